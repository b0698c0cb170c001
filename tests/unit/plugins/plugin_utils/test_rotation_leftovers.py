# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation report's list of secret files no application uses any more (issue 16, item 6)."""

from __future__ import annotations

from ansible_collections.mailops.smtp.plugins.filter.unused_secret_files import FilterModule
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import rotate_leftovers

CRED = "secret/smtp/o365-mailer"


def found(path, version, credential=CRED, secret=True):
    return {"path": path, "what": "x", "secret": secret, "credential": credential, "version": version}


def test_both_filters_are_registered():
    assert set(FilterModule().filters()) == {"unused_secret_files", "rotate_leftovers"}


def test_a_leftover_on_an_old_version_is_flagged_and_one_on_the_current_is_not():
    per_host = [[found("/etc/postfix/sasl_passwd", "2"), found("/etc/postfix/sasl_passwd.db", "2")],
                [found("/etc/mailops-smtp/mailops.oauth.json", "3")]]
    assert rotate_leftovers(per_host, ["web1", "web2"], CRED, 3) == [
        {"host": "web1", "path": "/etc/postfix/sasl_passwd", "credential": CRED, "version": "2", "old": True},
        {"host": "web1", "path": "/etc/postfix/sasl_passwd.db", "credential": CRED, "version": "2", "old": True},
        {"host": "web2", "path": "/etc/mailops-smtp/mailops.oauth.json", "credential": CRED, "version": "3",
         "old": False},
    ]


def test_another_path_with_the_same_version_is_old():
    [entry] = rotate_leftovers([[found("/etc/postfix/sasl_passwd", "3", "secret/smtp/other")]], ["web1"], CRED, "3")
    assert entry["old"] is True and entry["credential"] == "secret/smtp/other"


def test_files_without_a_marker_or_secret_and_hosts_not_inspected_are_left_out():
    per_host = [[found("/var/lib/mailops-smtp/mailops.token", None, credential=None),
                 found("/etc/cron.d/mailops-smtp-token-mailops", None, credential=None, secret=False),
                 found("/etc/mailops-smtp/mailops.oauth.json.mailops-smtp.json", "3", secret=False)],
                None, []]
    assert rotate_leftovers(per_host, ["web1", "web2", "web3"], CRED, 3) == []


def test_the_configure_filter_gives_the_items_of_the_module():
    f = FilterModule().filters()["unused_secret_files"]
    apps = [{"kind": "postfix", "connector": True, "xoauth2": False, "account": "mailops", "app": {"path": "/etc/pf"}}]
    assert f(apps, "/etc/mailops-smtp") == [{"kind": "postfix_sasl_map", "path": "/etc/pf"}]
    assert f(None) == []
