# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""options.mode: via_relay in every preset and generic format (issue 20 section 2).

Each case first writes the application's file the direct way (a mailbox and its password), then
moves it to via_relay: the relay's host and port, no user, no password (the old ones deleted),
no TLS on loopback and STARTTLS for a remote relay, and a second run that changes nothing.
The applications' own parsers read these files in tests/integration/settings_parsers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _presets_via_relay as via_relay
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import DELETE
from tests.local_runner import run_local

REPO = Path(__file__).resolve().parents[4]
POSTFIX_DATA = REPO / "tests" / "data" / "postfix"
PASSWORD = "Old-Secret-pw!42"
USER = "svc@contoso.com"
SMTP = {"host": "smtp.office365.com", "port": 587, "from_address": "alerts@contoso.com"}
CRED = {"type": "basic", "username": USER, "password": PASSWORD,
        "vault": {"path": "smtp/app", "mount": "secret", "version": 3}}
REMOTE = {"mode": "via_relay", "relay_host": "relay1.example.com", "relay_port": 587}
LOOPBACK = {"mode": "via_relay"}


def run(params, check=False):
    return engine.execute(params, "k", run_local, check_mode=check, want_diff=True)


def move(path, preset=None, fmt=None, options=None, direct_options=None, **extra):
    """Write path the direct way, then in via_relay mode; return (the via_relay result, the file's text)."""
    base = dict(preset=preset, format=fmt, path=str(path), smtp=SMTP, **extra)
    run(dict(base, credential=CRED, options=direct_options or {}))
    # The role may still pass the credential; via_relay mode must not use it.
    params = dict(base, credential=CRED, options=options)
    result = run(params)
    assert result["changed"] and result["content_changed"]
    assert result["version"] == {"credential": "none", "version": "none"}
    again = run(params)
    assert not again["changed"], "a second via_relay run changed the file"
    main = path if preset != "postfix" else Path(path) / "main.cf"
    text = Path(main).read_text(encoding="utf-8")
    assert PASSWORD not in text and USER not in text
    assert "managed by mailops.smtp: credential none version none" in text or fmt == "json"
    assert PASSWORD not in json.dumps(result["diff"])
    return result, text


def test_relay_defaults_and_loopback():
    assert via_relay.relay_of({"mode": "via_relay"}) == {"host": "127.0.0.1", "port": 25, "tls": False}
    for host in ("localhost", "::1", "127.0.0.2", "LOCALHOST"):
        assert not via_relay.relay_of({"relay_host": host})["tls"]
    assert via_relay.relay_of({"relay_host": "relay.example.com", "relay_port": "2525"}) == {
        "host": "relay.example.com", "port": 2525, "tls": True}


@pytest.mark.parametrize("opts,what", [({"relay_host": "a b"}, "relay_host"), ({"relay_host": "a\nb"}, "relay_host"),
                                       ({"relay_port": 0}, "relay_port"), ({"relay_port": "x"}, "relay_port"),
                                       ({"relay_port": True}, "relay_port")])
def test_bad_relay_refused_before_anything_is_written(tmp_path, opts, what):
    f = tmp_path / "grafana.ini"
    f.write_text("[smtp]\nhost = old:25\n")
    with pytest.raises(engine.SettingsError, match=what):
        run({"preset": "grafana", "path": str(f), "smtp": SMTP, "options": dict(opts, mode="via_relay")})
    assert f.read_text() == "[smtp]\nhost = old:25\n"


def test_unknown_mode_refused(tmp_path):
    with pytest.raises(engine.SettingsError, match="options.mode for grafana is via_relay, not 'relay'"):
        run({"preset": "grafana", "path": str(tmp_path / "g.ini"), "smtp": SMTP, "credential": CRED,
             "options": {"mode": "relay"}})
    with pytest.raises(engine.SettingsError, match="relay or connector or via_relay"):
        run({"preset": "postfix", "path": str(tmp_path), "smtp": SMTP, "options": {"mode": "via-relay"}})


def test_no_credential_needed(tmp_path):
    f = tmp_path / "mail_settings.py"
    s = run({"preset": "django", "path": str(f), "smtp": {"from_address": "a@contoso.com"}, "options": LOOPBACK})
    assert s["changed"] and "EMAIL_HOST = '127.0.0.1'\nEMAIL_PORT = 25\n" in f.read_text()


def test_postfix_remote(tmp_path):
    shutil.copy2(POSTFIX_DATA / "main.cf", tmp_path / "main.cf")
    shutil.copy2(POSTFIX_DATA / "master.cf", tmp_path / "master.cf")
    os.utime(tmp_path / "main.cf", (0, 0))
    move(tmp_path, "postfix", options=REMOTE, direct_options={"map_type": "hash"})
    out = subprocess.run(["postconf", "-c", str(tmp_path), "-n"], capture_output=True, text=True, check=True)
    conf = dict(l.split(" = ", 1) for l in out.stdout.splitlines())
    assert conf["relayhost"] == "[relay1.example.com]:587"
    assert conf["smtp_sasl_auth_enable"] == "no" and "smtp_sasl_password_maps" not in conf
    assert conf["smtp_tls_security_level"] == "secure"
    assert conf["sender_canonical_maps"] == "static:alerts@contoso.com"
    # The SASL map itself is the leftover step's (unused_secret_files): main.cf no longer names it.
    assert (tmp_path / "sasl_passwd").exists()


def test_postfix_ipv6_and_loopback_loop_refused(tmp_path):
    shutil.copy2(POSTFIX_DATA / "master.cf", tmp_path / "master.cf")
    with pytest.raises(engine.SettingsError, match="mail would loop"):
        run({"preset": "postfix", "path": str(tmp_path), "smtp": SMTP, "options": LOOPBACK})
    assert not (tmp_path / "main.cf").exists()
    run({"preset": "postfix", "path": str(tmp_path), "smtp": SMTP,
         "options": {"mode": "via_relay", "relay_host": "::1", "relay_port": 10025}})
    out = subprocess.run(["postconf", "-c", str(tmp_path), "-h", "relayhost", "smtp_tls_security_level"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[ipv6:::1]:10025", "none"]


@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_msmtp(tmp_path, relay):
    f = tmp_path / "msmtprc"
    f.write_text("account other\nhost x\nuser keep@contoso.com\n\n")
    _s, text = move(f, "msmtp", options=dict(relay, default_account=True))
    block = text.split("account mailops\n", 1)[1]
    lines = block.splitlines()
    assert "auth off" in lines and not [l for l in lines if l.startswith(("user", "password"))]
    assert 'from "alerts@contoso.com"' in lines
    if relay is LOOPBACK:
        assert 'host "127.0.0.1"' in lines and "port 25" in lines and "tls off" in lines
        assert not [l for l in lines if l.startswith(("tls_starttls", "tls_trust_file"))]
    else:
        assert 'host "relay1.example.com"' in lines and "tls on" in lines and "tls_starttls on" in lines
        assert "tls_trust_file system" in lines
    assert "user keep@contoso.com" in text and text.endswith("account default : mailops\n")


def test_msmtp_needs_a_from_address(tmp_path):
    with pytest.raises(engine.SettingsError, match="smtp.from_address"):
        run({"preset": "msmtp", "path": str(tmp_path / "m"), "smtp": {}, "options": LOOPBACK})


@pytest.mark.parametrize("relay,policy", [(LOOPBACK, "NoStartTLS"), (REMOTE, "MandatoryStartTLS")])
def test_grafana(tmp_path, relay, policy):
    f = tmp_path / "grafana.ini"
    f.write_text("[server]\nhttp_port = 3000\n")
    _s, text = move(f, "grafana", options=relay)
    section = text.split("[smtp]\n", 1)[1].splitlines()
    assert "host = %s:%d" % ((relay.get("relay_host") or "127.0.0.1"), relay.get("relay_port") or 25) in section
    assert "startTLS_policy = %s" % policy in section
    assert not [l for l in section if l.startswith(("user", "password"))]


@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_gitlab(tmp_path, relay):
    f = tmp_path / "gitlab.rb"
    _s, text = move(f, "gitlab", options=relay)
    tls = relay is REMOTE
    assert "gitlab_rails['smtp_enable_starttls_auto'] = %s" % ("true" if tls else "false") in text
    assert "gitlab_rails['smtp_address'] = '%s'" % (relay.get("relay_host") or "127.0.0.1") in text
    for gone in ("smtp_user_name", "smtp_password", "smtp_authentication"):
        assert gone not in text


def test_gitlab_graph_mailer_secret_removed(tmp_path):
    f = tmp_path / "gitlab.rb"
    oauth = {"type": "oauth2", "username": USER, "tenant_id": "t", "client_id": "c", "client_secret": PASSWORD}
    run({"preset": "gitlab", "path": str(f), "smtp": SMTP, "credential": oauth})
    assert PASSWORD in f.read_text()
    run({"preset": "gitlab", "path": str(f), "smtp": SMTP, "credential": oauth, "options": LOOPBACK})
    text = f.read_text()
    assert PASSWORD not in text and "microsoft_graph_mailer_enabled'] = false" in text


@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_spring(tmp_path, relay):
    f = tmp_path / "application.properties"
    f.write_text("server.port=8080\n")
    _s, text = move(f, "spring", options=relay)
    tls = "true" if relay is REMOTE else "false"
    assert "spring.mail.properties.mail.smtp.auth=false" in text
    assert "spring.mail.properties.mail.smtp.starttls.enable=%s" % tls in text
    assert "spring.mail.properties.mail.smtp.starttls.required=%s" % tls in text
    assert "spring.mail.username" not in text and "spring.mail.password" not in text


@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_laravel(tmp_path, relay):
    f = tmp_path / ".env"
    f.write_text("APP_NAME=Shop\n")
    _s, text = move(f, "laravel", options=relay)
    lines = text.splitlines()
    assert ("MAIL_ENCRYPTION=null" if relay is LOOPBACK else 'MAIL_ENCRYPTION="tls"') in lines
    assert 'MAIL_SCHEME="smtp"' in lines
    assert not [l for l in lines if l.startswith(("MAIL_USERNAME", "MAIL_PASSWORD"))]


@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_django(tmp_path, relay):
    f = tmp_path / "mail_settings.py"
    _s, text = move(f, "django", options=relay)
    assert "EMAIL_USE_TLS = %s" % (relay is REMOTE) in text and "EMAIL_USE_SSL = False" in text
    assert "EMAIL_HOST_USER" not in text and "EMAIL_HOST_PASSWORD" not in text


@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_nextcloud(tmp_path, relay):
    f = tmp_path / "smtp.config.php"
    _s, text = move(f, "nextcloud", options=relay)
    assert "'mail_smtpauth' => false," in text and "'mail_smtpsecure' => ''," in text
    assert "mail_smtpname" not in text and "mail_smtppassword" not in text


@pytest.mark.parametrize("preset", ["grafana", "spring", "laravel", "django", "nextcloud"])
def test_ca_path_refused_for_a_remote_relay_of_an_app_without_ca(tmp_path, preset):
    smtp = dict(SMTP, ca_path=str(REPO / "tests" / "data" / "postfix" / "main.cf"))
    with pytest.raises(engine.SettingsError, match="must chain to it"):
        run({"preset": preset, "path": str(tmp_path / "f"), "smtp": smtp, "options": REMOTE})
    # On loopback there is no TLS: the CA means nothing there and is not refused.
    run({"preset": preset, "path": str(tmp_path / "f"), "smtp": smtp, "options": LOOPBACK})


KEYS = {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER", "password": "SMTP_PW",
        "starttls": "SMTP_STARTTLS", "security": "SMTP_SECURITY"}


@pytest.mark.parametrize("fmt", ["env", "ini", "properties", "json"])
@pytest.mark.parametrize("relay", [LOOPBACK, REMOTE])
def test_generic_formats(tmp_path, fmt, relay):
    f = tmp_path / ("app." + fmt)
    f.write_text("{}\n" if fmt == "json" else "")
    extra = {"keys": KEYS}
    if fmt == "ini":
        extra["section"] = "mail"
    _s, text = move(f, fmt=fmt, options=relay, **extra)
    assert "SMTP_USER" not in text and "SMTP_PW" not in text
    host = relay.get("relay_host") or "127.0.0.1"
    assert host in text
    if fmt == "json":
        data = json.loads(text)
        assert data == {"SMTP_HOST": host, "SMTP_PORT": relay.get("relay_port") or 25,
                        "SMTP_STARTTLS": relay is REMOTE, "SMTP_SECURITY": "starttls" if relay is REMOTE else "none"}
        assert json.loads((tmp_path / "app.json.mailops-smtp.json").read_text())["credential"] == "none"


def test_generic_logical_values_delete_every_login():
    values = via_relay.logical_values({"host": "smtp.office365.com", "username": USER, "password": PASSWORD,
                                       "ca_path": "/x.pem"}, LOOPBACK)
    for name in ("username", "password", "tenant_id", "client_id", "client_secret", "mechanism", "ca_path"):
        assert values[name] is DELETE
    assert values["host"] == "127.0.0.1" and values["implicit_tls"] is False
    assert via_relay.logical_values({"ca_path": "/x.pem"}, REMOTE)["ca_path"] == "/x.pem"
