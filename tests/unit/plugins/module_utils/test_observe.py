# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an application's files say now, read on the host (module_utils/_observe.py), with real files."""

import os

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _observe
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine

PW = "S3cret-pw!"
BASIC = {"vault": {"mount": "secret", "path": "smtp/app", "version": 2}, "username": "u@example.com", "password": PW}
OAUTH2 = {"vault": {"mount": "secret", "path": "smtp/app", "version": 2}, "type": "oauth2", "username": "u@example.com",
          "tenant_id": "t", "client_id": "c", "client_secret": "s"}


def write(params):
    return engine.execute(params, "k" * 64, lambda argv, timeout=None: (0, "hash\n", ""))


def test_an_msmtp_file_written_with_a_password_says_basic_by_marker_and_settings(tmp_path):
    f = tmp_path / "msmtprc"
    write({"preset": "msmtp", "path": str(f), "credential": BASIC, "smtp": {"profile": "m365"}})
    got = _observe.observe("msmtp", None, str(f))
    assert got["exists"] and got["readable"] and got["error"] is None
    assert got["marker"] == {"credential": "secret/smtp/app", "version": "2", "auth": "basic"}
    assert got["settings"] == {"method": "basic", "holds_password": True}
    assert PW not in repr(got)


def test_an_msmtp_file_on_xoauth2_holds_no_password(tmp_path):
    f = tmp_path / "msmtprc"
    write({"preset": "msmtp", "path": str(f), "credential": OAUTH2, "smtp": {"profile": "m365"},
           "options": {"token_file": str(tmp_path / "t.token")}})
    got = _observe.observe("msmtp", None, str(f))
    assert got["marker"]["auth"] == "xoauth2"
    assert got["settings"] == {"method": "xoauth2", "holds_password": False}


def test_an_old_marker_leaves_the_method_to_the_settings(tmp_path):
    f = tmp_path / "msmtprc"
    f.write_text("# managed by mailops.smtp: credential secret/smtp/app version 1\n"
                 "account mailops\nhost smtp.office365.com\nauth on\nuser u@example.com\npassword \"x y\"\n")
    got = _observe.observe("msmtp", None, str(f))
    assert got["marker"] == {"credential": "secret/smtp/app", "version": "1"}
    assert got["settings"] == {"method": "basic", "holds_password": True}


@pytest.mark.parametrize("text,method,password", [
    ("account a\nhost 127.0.0.1\nport 25\nauth off\ntls off\n", "via_relay", False),
    ("account a\nhost smtp.office365.com\nauth xoauth2\nuser u\npasswordeval \"cat /t\"\n", "xoauth2", False),
    ("# password \"old\"\naccount a\nhost 127.0.0.1\nauth off\n", "via_relay", False),
    ("", "unknown", False),
])
def test_msmtp_settings_without_a_marker(tmp_path, text, method, password):
    f = tmp_path / "msmtprc"
    f.write_text(text)
    assert _observe.observe("msmtp", None, str(f))["settings"] == {"method": method, "holds_password": password}


@pytest.mark.parametrize("text,method,password", [
    ("MAIL_HOST=smtp.office365.com\nMAIL_USERNAME=u\nMAIL_PASSWORD=\"pw\"\n", "basic", True),
    ("MAIL_HOST=127.0.0.1\nMAIL_PORT=25\nMAIL_PASSWORD=\n", "via_relay", False),
    ("spring.mail.host=127.0.0.1\nspring.mail.port=25\n", "via_relay", False),
    ("[smtp]\nenabled = true\nhost = smtp.office365.com:587\nuser = u\npassword = \"\"\"pw\"\"\"\n", "basic", True),
    ("EMAIL_HOST = 'x'\nEMAIL_HOST_PASSWORD = 'pw'\n", "basic", True),
    ("gitlab_rails['microsoft_graph_mailer_enabled'] = true\n", "xoauth2", False),
    ("APP_KEY=base64:abc\n", "unknown", False),
])
def test_other_formats_without_a_marker(tmp_path, text, method, password):
    f = tmp_path / "app.conf"
    f.write_text(text)
    assert _observe.observe(None, "env", str(f))["settings"] == {"method": method, "holds_password": password}


def test_postfix_basic_connector_and_relay(tmp_path):
    d = tmp_path / "postfix"
    d.mkdir()
    (d / "main.cf").write_text("relayhost = [smtp.office365.com]:587\nsmtp_sasl_auth_enable = yes\n"
                               "smtp_sasl_password_maps = hash:%s/sasl_passwd\n" % d)
    (d / "sasl_passwd").write_text("[smtp.office365.com]:587 u@example.com:pw\n")
    assert _observe.observe("postfix", None, str(d))["settings"] == {"method": "basic", "holds_password": True}
    (d / "main.cf").write_text("relayhost = [contoso-com.mail.protection.outlook.com]:25\n")
    assert _observe.observe("postfix", None, str(d))["settings"] == {"method": "connector", "holds_password": False}
    (d / "main.cf").write_text("relayhost = [relay1.example.com]:25\nsmtp_sasl_auth_enable = no\n")
    assert _observe.observe("postfix", None, str(d))["settings"] == {"method": "via_relay", "holds_password": False}


def test_a_missing_file_is_none_and_an_unreadable_one_unknown(tmp_path):
    got = _observe.observe("msmtp", None, str(tmp_path / "nope"))
    assert not got["exists"] and got["settings"]["method"] == "none"
    f = tmp_path / "msmtprc"
    f.write_text("password x\n")
    if os.geteuid() == 0:
        # root reads a 0600 file anyway; a directory in its place cannot be read as a file.
        f.unlink()
        f.mkdir()
    else:
        f.chmod(0)
    got = _observe.observe("msmtp", None, str(f))
    assert got["readable"] is False and got["settings"] == {"method": "unknown", "holds_password": None}
    assert "cannot read" in got["error"]


def test_a_json_file_is_read_with_its_sidecar(tmp_path):
    f = tmp_path / "mail.json"
    write({"format": "json", "path": str(f), "credential": BASIC, "smtp": {"host": "smtp.office365.com", "port": 587},
           "keys": {"host": "mail.host", "password": "mail.password"}})
    got = _observe.observe(None, "json", str(f))
    assert got["marker"]["auth"] == "basic" and got["settings"]["holds_password"] is True


def test_the_settings_engine_observes_at_the_preset_path():
    got = engine.observe({"preset": "postfix", "path": "/nonexistent-dir-of-the-test"})
    assert got["path"] == "/nonexistent-dir-of-the-test/main.cf" and not got["exists"]
    with pytest.raises(engine.SettingsError):
        engine.observe({"format": "env"})


def test_a_postfix_the_relay_took_over_logs_in_with_xoauth2_whatever_the_preset_s_old_marker_says(tmp_path):
    # The postfix preset's marker (auth basic) stays at the top of main.cf when the smtp_relay role takes this
    # Postfix over: the relay's xoauth2 transport is what the file does now.
    d = tmp_path / "postfix"
    d.mkdir()
    (d / "main.cf").write_text("# managed by mailops.smtp: credential secret/smtp/basic version 1 auth basic\n"
                               "default_transport = mailops_xoauth2:[smtp.office365.com]:587\n"
                               "relay_transport = mailops_xoauth2:[smtp.office365.com]:587\n")
    got = _observe.observe("postfix", None, str(d))
    assert got["marker"] is None and got["settings"] == {"method": "xoauth2", "holds_password": False}


def test_a_postfix_that_delivers_by_itself_is_not_set_up_yet():
    assert _observe.postfix_method({"relayhost": ""}, False) == "none"
    assert _observe.postfix_method({"relayhost": "[smtp.office365.com]:587"}, True) == "basic"
