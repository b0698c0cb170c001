# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""options.mode: via_relay, read back by each application's own parser (issue 20 section 2).

Every file is first written the direct way (the mailbox and a hostile password), then moved to
via_relay twice: a relay on loopback (no TLS) and a designated relay host (STARTTLS). The
application's parser must find the relay's host and port, TLS off or on as its library spells it,
no login, and no trace of the old password.
"""

from __future__ import annotations

import configparser
import json
import runpy
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from tests.integration._readers import build_go_ini_reader, hexes

from .conftest import USER, cred, write

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
# Written as it is by every format, so that its absence afterwards is plain to see (the hostile
# passwords' round trips are test_roundtrip.py's).
PASSWORD = "Old-Secret-pw-42"
SMTP = {"host": "smtp.office365.com", "port": 587, "security": "starttls", "from_address": "alerts@contoso.com"}
LOOPBACK = {"mode": "via_relay"}
REMOTE = {"mode": "via_relay", "relay_host": "relay1.example.com", "relay_port": 2525}
RELAYS = [pytest.param(LOOPBACK, id="loopback"), pytest.param(REMOTE, id="remote")]


def where(relay):
    return relay.get("relay_host", "127.0.0.1"), relay.get("relay_port", 25), relay is REMOTE


def move(path, relay, **params):
    """Write path the direct way, then in via_relay mode (twice: the second changes nothing)."""
    base = dict(path=str(path), smtp=SMTP, **params)
    write(dict(base, credential=cred(PASSWORD)))
    assert PASSWORD in Path(path).read_text(encoding="utf-8")
    via = dict(base, credential=cred(PASSWORD), options=relay)
    assert write(via)["changed"]
    assert not write(via)["changed"]
    text = Path(path).read_text(encoding="utf-8")
    assert PASSWORD not in text and USER not in text
    return text


@pytest.fixture(scope="module")
def ini_reader(tmp_path_factory):
    return build_go_ini_reader(PRESETS_DIR / "ini_reader.go", tmp_path_factory.mktemp("goini"))


@pytest.mark.parametrize("relay", RELAYS)
def test_grafana_go_ini(tmp_path, relay, ini_reader):
    f = tmp_path / "grafana.ini"
    f.write_text("[server]\nhttp_port = 3000\n\n[smtp]\n;password =\n")
    move(f, relay, preset="grafana")
    host, port, tls = where(relay)
    out = subprocess.run([str(ini_reader), str(f), "smtp", "enabled", "host", "user", "password", "startTLS_policy"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    # go-ini gives "" for a key that is not there: Grafana's mailer then does not log in.
    assert out.splitlines()[2:4] == ["", ""]
    values = hexes(out.replace("\n\n\n", "\n00\n00\n"))
    assert values[:2] == ["true", "%s:%d" % (host, port)]
    assert values[4] == ("MandatoryStartTLS" if tls else "NoStartTLS")


@pytest.mark.parametrize("relay", RELAYS)
def test_spring_java_properties(tmp_path, relay):
    f = tmp_path / "application.properties"
    f.write_text("server.port=8080\n")
    move(f, relay, preset="spring")
    host, port, tls = where(relay)
    keys = ["spring.mail.host", "spring.mail.port", "spring.mail.username", "spring.mail.password",
            "spring.mail.properties.mail.smtp.auth", "spring.mail.properties.mail.smtp.starttls.enable",
            "spring.mail.properties.mail.smtp.starttls.required"]
    out = subprocess.run(["java", str(PRESETS_DIR / "PropsReader.java"), str(f)] + keys, check=True,
                         capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[2:4] == ["MISSING", "MISSING"]
    got = [bytes.fromhex(v).decode() for v in out[:2] + out[4:]]
    assert got == [host, str(port), "false", str(tls).lower(), str(tls).lower()]


@pytest.mark.parametrize("relay", RELAYS)
def test_laravel_phpdotenv(tmp_path, relay):
    f = tmp_path / ".env"
    f.write_text("APP_NAME=Laravel\nMAIL_MAILER=log\n")
    move(f, relay, preset="laravel")
    host, port, tls = where(relay)
    php = ("require '/usr/share/php/Dotenv/autoload.php';"
           "$e = Dotenv\\Dotenv::createArrayBacked($argv[1])->load();"
           "echo json_encode([$e['MAIL_MAILER'], $e['MAIL_SCHEME'], $e['MAIL_HOST'], $e['MAIL_PORT'],"
           " $e['MAIL_ENCRYPTION'], array_key_exists('MAIL_USERNAME', $e), array_key_exists('MAIL_PASSWORD', $e),"
           " $e['APP_NAME']]);")
    out = subprocess.run(["php", "-r", php, str(tmp_path)], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    # Laravel's env() turns the word null into PHP null: Laravel 10's MAIL_ENCRYPTION then asks for no TLS.
    assert json.loads(out) == ["smtp", "smtp", host, str(port), "tls" if tls else "null", False, False, "Laravel"]


@pytest.mark.parametrize("relay", RELAYS)
def test_django_settings_module(tmp_path, relay):
    f = tmp_path / "mail_settings.py"
    f.write_text("DEBUG = False\n")
    move(f, relay, preset="django")
    host, port, tls = where(relay)
    ns = runpy.run_path(str(f))
    assert (ns["EMAIL_HOST"], ns["EMAIL_PORT"], ns["EMAIL_USE_TLS"], ns["EMAIL_USE_SSL"]) == (host, port, tls, False)
    # Django's SMTP backend logs in only when both are set; neither is.
    assert "EMAIL_HOST_USER" not in ns and "EMAIL_HOST_PASSWORD" not in ns and ns["DEBUG"] is False


@pytest.mark.parametrize("relay", RELAYS)
def test_nextcloud_php(tmp_path, relay):
    f = tmp_path / "smtp.config.php"
    move(f, relay, preset="nextcloud")
    host, port, _tls = where(relay)
    php = ("$CONFIG = null; include $argv[1];"
           "echo json_encode([$CONFIG['mail_smtphost'], $CONFIG['mail_smtpport'], $CONFIG['mail_smtpsecure'],"
           " $CONFIG['mail_smtpauth'], isset($CONFIG['mail_smtpname']), isset($CONFIG['mail_smtppassword']),"
           " $CONFIG['mail_from_address'], $CONFIG['mail_domain']]);")
    out = subprocess.run(["php", "-r", php, str(f)], check=True, capture_output=True, text=True, timeout=60).stdout
    assert json.loads(out) == [host, port, "", False, False, False, "alerts", "contoso.com"]


@pytest.mark.parametrize("relay", RELAYS)
def test_gitlab_ruby(tmp_path, relay):
    f = tmp_path / "gitlab.rb"
    f.write_text("external_url 'https://gitlab.example.com'\n")
    move(f, relay, preset="gitlab")
    host, port, tls = where(relay)
    rb = ("require 'json'\ndef external_url(u); end\ngitlab_rails = {}\n"
          "eval(File.read(ARGV[0], encoding: 'UTF-8'), binding)\n"
          "puts JSON.generate(%w[smtp_enable smtp_address smtp_port smtp_enable_starttls_auto smtp_tls"
          " smtp_user_name smtp_password smtp_authentication].map { |k| gitlab_rails[k] })\n")
    out = subprocess.run(["ruby", "-e", rb, str(f)], check=True, capture_output=True, text=True, timeout=60).stdout
    assert json.loads(out) == [True, host, port, tls, False, None, None, None]


@pytest.mark.parametrize("relay", RELAYS)
def test_msmtp_pretend(tmp_path, relay):
    f = tmp_path / "msmtprc"
    move(f, relay, preset="msmtp")
    host, port, tls = where(relay)
    out = subprocess.run(["msmtp", "-C", str(f), "-a", "mailops", "--pretend"], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    got = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    assert (got["host"], got["port"], got["auth"], got["user"], got["password"], got["passwordeval"]) == (
        host, str(port), "none", "(not set)", "(not set)", "(not set)")
    assert got["tls"] == ("on" if tls else "off") and got["from"] == "alerts@contoso.com"
    if tls:
        assert got["tls_starttls"] == "on" and got["tls_trust_file"] == "system"


KEYS = {"host": "mail.host", "port": "mail.port", "username": "mail.user", "password": "mail.password",
        "starttls": "mail.starttls"}


@pytest.mark.parametrize("relay", RELAYS)
def test_generic_formats_reference_parsers(tmp_path, relay):
    host, port, tls = where(relay)
    ini = tmp_path / "app.ini"
    ini.write_text("[other]\nkeep = 1\n")
    move(ini, relay, format="ini", section="mail", keys={k: v.split(".")[1] for k, v in KEYS.items()})
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini, encoding="utf-8")
    assert dict(cp["mail"]) == {"host": host, "port": str(port), "starttls": str(tls).lower()}

    env = tmp_path / ".env"
    move(env, relay, format="env", keys={k: v.replace(".", "_").upper() for k, v in KEYS.items()})
    vals = dotenv_values(env)
    assert dict(vals) == {"MAIL_HOST": host, "MAIL_PORT": str(port),
                          "MAIL_STARTTLS": str(tls).lower()}

    props = tmp_path / "app.properties"
    move(props, relay, format="properties", keys=KEYS)
    out = subprocess.run(["java", str(PRESETS_DIR / "PropsReader.java"), str(props)] + list(KEYS.values()),
                         check=True, capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[2:4] == ["MISSING", "MISSING"]
    assert [bytes.fromhex(v).decode() for v in out[:2] + out[4:]] == [host, str(port), str(tls).lower()]

    js = tmp_path / "app.json"
    move(js, relay, format="json", keys=KEYS)
    assert json.loads(js.read_text()) == {"mail": {"host": host, "port": port, "starttls": tls}}


@pytest.mark.parametrize("relay", RELAYS)
def test_yaml_through_the_action_merge(relay):
    """YAML is merged on the controller; the action's assignments in via_relay mode, read by PyYAML."""
    from ansible_collections.mailops.smtp.plugins.action.settings import yaml_assignments
    from ansible_collections.mailops.smtp.plugins.module_utils._settings_engine import build_context
    from ansible_collections.mailops.smtp.plugins.plugin_utils import _yaml_merge

    host, port, tls = where(relay)
    direct = _yaml_merge.merge("app: {name: x}\n", [("mail.password", PASSWORD, True), ("mail.user", USER, False)],
                               cred(PASSWORD), "k", "/x.yml")["content"]
    args = {"options": relay, "keys": KEYS}
    m = _yaml_merge.merge(direct, yaml_assignments(args, build_context(SMTP, None)), None, "k", "/x.yml")
    assert m["changed"] and m["secret_changed"] and PASSWORD not in m["content"] + m["after"] + m["before"]
    assert yaml.safe_load(m["content"]) == {"app": {"name": "x"},
                                            "mail": {"host": host, "port": port, "starttls": tls}}
    assert "credential none version none" in m["content"]
