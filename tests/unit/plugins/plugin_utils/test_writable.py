# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the controller's check that a host's files could hold a credential (plugin_utils/_writable.py)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from ansible_collections.mailops.smtp.plugins.plugin_utils import _configure, _writable

BASIC = {"type": "basic", "username": "relay@contoso.com", "password": "pa55word"}
OAUTH = {"type": "oauth2", "username": "relay@contoso.com", "tenant_id": "t", "client_id": "c",
         "client_secret": "s3cret"}


def described(apps, cred):
    return _configure.configure_apps(apps, "m365", _configure.credential_type(cred))


def basic(password):
    return dict(BASIC, password=password)


def test_a_plain_value_fits_every_file():
    apps = described([{"preset": "msmtp"}, {"preset": "laravel", "path": "/srv/app/.env"},
                      {"preset": "postfix"}, {"preset": "grafana"}], BASIC)
    assert _writable.unwritable(apps, basic("q\"'$ {} #{} {{ x }} \\ é")) == []


@pytest.mark.parametrize("brk", ["\n", "\r", "\u2028", "\u2029", "\x85", "\x0b"])
def test_a_line_break_is_refused_where_msmtp_and_env_files_cannot_carry_it(brk):
    apps = described([{"preset": "msmtp"}, {"preset": "laravel", "path": "/srv/app/.env"}], BASIC)
    problems = _writable.unwritable(apps, basic("ab" + brk + "MAIL_HOST=evil"), host="host1")
    assert len(problems) == 2, problems
    assert problems[0].startswith("on host1, msmtp (default path): the password contains a line break")
    assert problems[1].startswith("on host1, laravel /srv/app/.env: the password contains a line break")
    assert all("evil" not in p and "ab" + brk not in p for p in problems)


def test_nul_is_refused_in_every_format_json_too():
    apps = described([{"preset": "grafana"},
                      {"format": "json", "path": "/etc/app.json", "name": "app", "keys": {"password": "smtp.pass"}}],
                     BASIC)
    problems = _writable.unwritable(apps, basic("a\x00b"))
    assert [p.split(":")[0] for p in problems] == ["grafana (default path)", "app"], problems
    assert all("NUL" in p for p in problems)


def test_the_refresher_file_of_an_msmtp_xoauth2_app_is_checked_with_the_app():
    apps = described([{"preset": "msmtp"}], OAUTH)
    assert _writable.unwritable(apps, OAUTH, "/etc/mailops-smtp") == []
    bad = dict(OAUTH, client_id="c\nx")
    problems = _writable.unwritable(apps, bad, "/etc/mailops-smtp")
    assert problems and all("client_id" in p for p in problems), problems


def test_apps_that_do_not_hold_the_credential_are_not_checked_against_it():
    apps = described([{"preset": "grafana", "options": {"mode": "via_relay"}},
                      {"preset": "postfix", "options": {"mode": "connector", "tenant": "contoso.com"}}], BASIC)
    assert _writable.unwritable(apps, basic("a\u2028b")) == []


def test_postfix_is_checked_without_the_hosts_postconf():
    # Without options.map_type the engine would ask postconf (the host's); the check takes hash.
    apps = described([{"preset": "postfix"}], BASIC)
    assert _writable.unwritable(apps, basic("a b")) == []
    assert _writable.unwritable(apps, basic("a\nb"))


def test_check_writable_reads_no_file(tmp_path):
    path = tmp_path / "msmtprc"
    path.write_text("account broken\n\x00garbage that no merge would parse\n")
    params = {"preset": "msmtp", "path": str(path), "options": {}, "smtp": {"profile": "m365"},
              "credential": BASIC}
    engine.check_writable(params)  # the file's own content is not looked at
    with pytest.raises(engine.SettingsError, match="line break"):
        engine.check_writable(dict(params, credential=basic("a\nb")))


def test_with_a_baseline_only_the_refusals_the_new_value_causes_are_named():
    # Postfix cannot log in with an oauth2 credential at all: refused with the old secret as with the new one.
    apps = described([{"preset": "postfix"}, {"preset": "msmtp"}], OAUTH)
    assert any("XOAUTH2" in p for p in _writable.unwritable(apps, OAUTH))
    assert _writable.unwritable(apps, dict(OAUTH, client_secret="new"), baseline=OAUTH) == []
    problems = _writable.unwritable(apps, dict(OAUTH, client_id="c\u2028x"), "/etc/mailops-smtp", baseline=OAUTH)
    assert problems and all(p.startswith("msmtp (default path)") for p in problems), problems
