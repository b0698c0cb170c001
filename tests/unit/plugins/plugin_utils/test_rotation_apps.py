# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a rotation covers on a host: its applications, and its relay when the relay uses the rotated credential."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.filter.rotate_apps import FilterModule
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation_apps import (
    RotationAppsError,
    rotate_apps,
    rotate_inspected,
    rotate_relay,
)

CRED = "secret/smtp/o365-mailer"
VAULT = {"url": "https://vault:8200", "mount": "secret", "path": "smtp/o365-mailer"}


def test_the_three_filters_are_registered():
    assert set(FilterModule().filters()) == {"rotate_apps", "rotate_relay", "rotate_inspected"}


@pytest.mark.parametrize("upstream", ["xoauth2", "basic"])
def test_a_relay_reading_the_rotated_path_is_rotated(upstream):
    assert rotate_relay(upstream, VAULT, CRED) == {
        "name": "relay (%s)" % upstream, "kind": "relay", "upstream": upstream, "check": "postfix",
        "path": None, "account": None}


def test_the_mount_defaults_to_secret_and_slashes_do_not_matter():
    assert rotate_relay("xoauth2", {"path": "/smtp/o365-mailer/"}, "secret/smtp/o365-mailer/")
    assert rotate_relay("xoauth2", {"mount": "/secret/", "path": "smtp/o365-mailer"}, CRED)


@pytest.mark.parametrize("upstream, vault, inline", [
    ("connector", VAULT, None),                                      # logs in with no credential
    ("", VAULT, None),                                               # not a relay
    (None, VAULT, None),
    ("xoauth2", dict(VAULT, path="smtp/other"), None),               # another credential
    ("xoauth2", dict(VAULT, mount="kv"), None),                      # same path on another mount
    ("xoauth2", None, None),                                         # no Vault
    ("xoauth2", {"url": "https://vault:8200"}, None),                # Vault options without a path
    ("basic", VAULT, {"type": "basic", "username": "u", "password": "p"}),  # inline: reads no Vault
])
def test_a_relay_the_rotation_cannot_reach_is_none(upstream, vault, inline):
    assert rotate_relay(upstream, vault, CRED, inline) is None


LOOPBACK_APP = {"preset": "grafana", "options": {"mode": "via_relay"}}
REMOTE_APP = {"preset": "grafana", "options": {"mode": "via_relay", "relay_host": "relay1.example.com"}}


@pytest.mark.parametrize("apps, listen", [([LOOPBACK_APP], None), ([], ["192.0.2.25"])])
def test_a_relay_found_as_validate_finds_it_takes_the_shared_upstream(apps, listen):
    relay = rotate_relay("", VAULT, CRED, None, apps=apps, shared_upstream="basic", listen=listen)
    assert relay["name"] == "relay (basic)"


def test_the_shared_upstream_of_an_app_host_with_a_remote_relay_makes_it_no_relay():
    assert rotate_relay("", VAULT, CRED, None, apps=[REMOTE_APP], shared_upstream="xoauth2") is None
    assert rotate_relay("", VAULT, CRED, None, apps=[], shared_upstream="xoauth2", listen="loopback") is None


def test_the_hosts_own_upstream_wins_over_the_shared_one():
    relay = rotate_relay("basic", VAULT, CRED, None, apps=[LOOPBACK_APP], shared_upstream="connector")
    assert relay["upstream"] == "basic"
    assert rotate_relay("connector", VAULT, CRED, None, apps=[LOOPBACK_APP], shared_upstream="xoauth2") is None


def test_an_unknown_upstream_is_refused_with_what_to_set():
    with pytest.raises(RotationAppsError, match="smtp_relay_upstream must be one of xoauth2"):
        rotate_relay("oauth", VAULT, CRED)
    with pytest.raises(AnsibleFilterError, match="mailops_smtp_relay_upstream"):
        FilterModule().filters()["rotate_relay"]("", VAULT, CRED, None, apps=[LOOPBACK_APP], shared_upstream="pw")


def test_apps_are_described_as_before_and_the_relay_comes_last():
    apps = [
        {"preset": "postfix"},
        {"preset": "postfix", "name": "edge", "options": {"mode": "connector"}},
        {"preset": "msmtp", "options": {"account": "alerts"}},
        {"format": "env", "path": "/srv/app.env"},
        {"preset": "grafana", "path": "/etc/grafana/grafana.ini", "options": {"mode": "via_relay"}},
    ]
    relay = rotate_relay("xoauth2", VAULT, CRED)
    out = rotate_apps(apps, "m365", relay)
    assert [(a["name"], a["kind"], a["check"]) for a in out] == [
        ("postfix (default path)", "postfix", "postfix"),
        ("edge", "postfix", "none"),
        ("msmtp (default path)", "msmtp", "msmtp"),
        ("env /srv/app.env", "env", "probe"),
        ("grafana /etc/grafana/grafana.ini", "grafana", "none"),
        ("relay (xoauth2)", "relay", "postfix"),
    ]
    assert out[2]["account"] == "alerts" and out[0]["account"] == "mailops"
    assert out[3]["path"] == "/srv/app.env"


def test_the_connector_profile_makes_postfix_a_connector_unless_its_mode_says_otherwise():
    out = rotate_apps([{"preset": "postfix"}, {"preset": "postfix", "options": {"mode": "relay"}}], "m365_connector")
    assert [a["check"] for a in out] == ["none", "postfix"]


def test_no_apps_and_no_relay_is_nothing():
    assert rotate_apps(None) == [] and rotate_apps([], "m365", None) == []


def _result(name, deployed=None, readable=True, msg=None):
    r = {"smtp_configure__app": {"name": name}}
    if readable:
        r.update(version={"credential": CRED, "version": "3"}, deployed=deployed)
    else:
        r["msg"] = msg
    return r


def test_inspected_versions_come_from_the_markers_and_the_relay_is_added():
    relay = rotate_relay("xoauth2", VAULT, CRED)
    apps = rotate_apps([{"preset": "postfix"}, {"preset": "msmtp"}], "m365", relay)
    results = [_result("postfix (default path)", {"credential": CRED, "version": "2"}),
               _result("msmtp (default path)", None)]
    relay_result = {"version": {"credential": CRED, "version": "3"},
                    "deployed": {"credential": "secret/smtp/other", "version": "7"}}
    assert rotate_inspected(results, apps, relay_result) == [
        {"name": "postfix (default path)", "check": "postfix", "credential": CRED, "version": "2", "error": None},
        {"name": "msmtp (default path)", "check": "msmtp", "credential": "none", "version": "none", "error": None},
        {"name": "relay (xoauth2)", "check": "postfix", "credential": "secret/smtp/other", "version": "7",
         "error": None},
    ]


def test_an_unreadable_file_is_unknown_with_the_reason():
    apps = rotate_apps([{"format": "env", "path": "/srv/app.env"}], "m365", rotate_relay("basic", VAULT, CRED))
    out = rotate_inspected([_result("env /srv/app.env", readable=False, msg="Permission denied")], apps,
                           {"skipped": True})
    assert out == [
        {"name": "env /srv/app.env", "check": "probe", "credential": "unknown", "version": "unknown",
         "error": "Permission denied"},
        {"name": "relay (basic)", "check": "postfix", "credential": "unknown", "version": "unknown",
         "error": "could not be read"},
    ]


def test_without_a_relay_its_result_is_ignored():
    apps = rotate_apps([{"preset": "postfix"}], "m365", None)
    assert [a["name"] for a in rotate_inspected([_result("postfix (default path)")], apps, {"version": {}})] == [
        "postfix (default path)"]
