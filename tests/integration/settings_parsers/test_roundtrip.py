# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each hostile password comes back exactly from the application's real parser."""

from __future__ import annotations

import configparser
import json
import runpy
import shutil
import subprocess
from pathlib import Path

import yaml
from dotenv import dotenv_values

from tests.integration._readers import hexes

from .conftest import CORPUS, USER, cred, has_break, write_corpus

SMTP = {"host": "smtp.office365.com", "port": 587, "security": "starttls", "from_address": USER}
LARAVEL_WORDS = ("true", "(true)", "false", "(false)", "empty", "(empty)", "null", "(null)")


def never(pw):
    return False


# A config dir of the test's own: nothing here reads the machine's /etc/postfix.
POSTFIX_DATA = Path(__file__).resolve().parents[2] / "data" / "postfix"


def test_postfix_postmap_and_postconf(tmp_path):
    def params(d, pw):
        shutil.copy2(POSTFIX_DATA / "main.cf", d / "main.cf")
        shutil.copy2(POSTFIX_DATA / "master.cf", d / "master.cf")
        # map_type given: five writes per password need no postconf lookup of it.
        return {"preset": "postfix", "path": str(d), "credential": cred(pw), "smtp": SMTP,
                "options": {"map_type": "hash"}}

    # Postfix has no escape for a line break: refused (rstrip also strips some of them).
    accepted = write_corpus(tmp_path, params, lambda pw: pw != pw.rstrip() or has_break(pw))
    for pw, d in accepted.items():
        out = subprocess.run(["postmap", "-c", str(d), "-q", "[smtp.office365.com]:587", "hash:%s/sasl_passwd" % d],
                             check=True, capture_output=True).stdout.decode("utf-8")
        assert out.endswith("\n")
        user, got = out[:-1].split(":", 1)
        assert (user, got) == (USER, pw)
    d = next(iter(accepted.values()))
    out = subprocess.run(["postconf", "-c", str(d), "-h", "relayhost", "smtp_sasl_password_maps",
                          "smtp_tls_CApath", "default_transport", "relay_transport"],
                         check=True, capture_output=True, text=True)
    assert out.stderr == ""
    assert out.stdout.split() == ["[smtp.office365.com]:587", "hash:%s/sasl_passwd" % d, "/etc/ssl/certs",
                                  "smtp", "smtp"]


def test_ini_configparser(tmp_path):
    def params(d, pw):
        (d / "app.ini").write_text("[other]\nkeep = me ; not a comment\n\n[mail]\n# comment\nhost = old\n")
        return {"format": "ini", "section": "mail", "path": str(d / "app.ini"), "credential": cred(pw),
                "smtp": SMTP, "keys": {"host": "host", "password": "password"}}

    accepted = write_corpus(tmp_path, params, lambda pw: pw != pw.strip() or has_break(pw))
    for pw, d in accepted.items():
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(d / "app.ini", encoding="utf-8")
        assert cp["mail"]["password"] == pw
        assert cp["other"]["keep"] == "me ; not a comment"


def env_refused(pw):
    """The generic .env rules: '${' (both readers expand it), every line break (no escape
    that every .env reader shares), and a trailing backslash on a value that cannot go
    unquoted (python-dotenv's quoted-value pattern runs past an escaped final backslash)."""
    bare = not any(ch.isspace() or ch in "'\"#$" for ch in pw)
    return "${" in pw or has_break(pw) or (pw.endswith("\\") and not bare)


def test_env_python_dotenv_and_phpdotenv(tmp_path):
    def params(d, pw):
        (d / ".env").write_text("OTHER=1\n")
        # SMTP_HOST is written after the password, quoted: a reader that runs past the
        # password's closing quote swallows it.
        return {"format": "env", "path": str(d / ".env"), "credential": cred(pw), "smtp": SMTP,
                "keys": {"password": "SMTP_PASSWORD", "port": "SMTP_PORT", "host": "SMTP_HOST"}}

    accepted = write_corpus(tmp_path, params, env_refused)
    assert "ends-with-backslash\\" in accepted and "ends with space\\" not in accepted
    for pw, d in accepted.items():
        vals = dotenv_values(d / ".env")
        assert vals["SMTP_PASSWORD"] == pw
        assert vals["OTHER"] == "1" and vals["SMTP_PORT"] == "587" and vals["SMTP_HOST"] == SMTP["host"]
    php = ("require '/usr/share/php/Dotenv/autoload.php';"
           "foreach (array_slice($argv, 1) as $d) {"
           " $e = Dotenv\\Dotenv::createArrayBacked($d)->load();"
           " if ($e['OTHER'] !== '1' || $e['SMTP_PORT'] !== '587' || $e['SMTP_HOST'] !== 'smtp.office365.com')"
           " { exit(3); }"
           " echo bin2hex($e['SMTP_PASSWORD']), \"\\n\"; }")
    out = subprocess.run(["php", "-r", php] + [str(d) for d in accepted.values()], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert hexes(out) == list(accepted)


def test_json_and_sidecar(tmp_path):
    def params(d, pw):
        (d / "app.json").write_text('{"keep": [1, 2], "smtp": {"other": true}}\n')
        return {"format": "json", "path": str(d / "app.json"), "credential": cred(pw), "smtp": SMTP,
                "keys": {"password": "smtp.password", "host": "smtp.host"}}

    accepted = write_corpus(tmp_path, params, never)
    for pw, d in accepted.items():
        data = json.loads((d / "app.json").read_text(encoding="utf-8"))
        assert data == {"keep": [1, 2], "smtp": {"other": True, "password": pw, "host": "smtp.office365.com"}}
        side = json.loads((d / "app.json.mailops-smtp.json").read_text())
        assert side == {"managed_by": "mailops.smtp", "credential": "secret/smtp/o365-mailer", "version": "3",
                        "auth": "basic"}


def test_properties_java(tmp_path, java_reader):
    def params(d, pw):
        (d / "application.properties").write_text("server.port=8080\n")
        return {"format": "properties", "path": str(d / "application.properties"), "credential": cred(pw),
                "smtp": SMTP, "keys": {"password": "mail.password"}}

    accepted = write_corpus(tmp_path, params, never)
    files = [str(d / "application.properties") for d in accepted.values()]
    out = subprocess.run(["java", str(java_reader), "mail.password"] + files, check=True, capture_output=True,
                         text=True, timeout=120).stdout
    assert hexes(out) == list(accepted)


def test_spring_java(tmp_path, java_reader):
    def params(d, pw):
        return {"preset": "spring", "path": str(d / "application.properties"), "credential": cred(pw),
                "smtp": SMTP}

    accepted = write_corpus(tmp_path, params, lambda pw: "${" in pw)
    files = [str(d / "application.properties") for d in accepted.values()]
    out = subprocess.run(["java", str(java_reader), "spring.mail.password"] + files, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert hexes(out) == list(accepted)
    text = (next(iter(accepted.values())) / "application.properties").read_text()
    assert text.isascii()


def test_grafana_go_ini(tmp_path, go_reader):
    def params(d, pw):
        (d / "grafana.ini").write_text("[server]\nhttp_port = 3000\n\n[smtp]\n;password =\n")
        return {"preset": "grafana", "path": str(d / "grafana.ini"), "credential": cred(pw), "smtp": SMTP}

    accepted = write_corpus(tmp_path, params, lambda pw: "${" in pw or "$__" in pw or has_break(pw))
    out = subprocess.run([str(go_reader)] + [str(d / "grafana.ini") for d in accepted.values()],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    assert hexes(out) == list(accepted)


def test_laravel_phpdotenv(tmp_path):
    def params(d, pw):
        (d / ".env").write_text("APP_NAME=Laravel\nMAIL_MAILER=log\n")
        return {"preset": "laravel", "path": str(d / ".env"), "credential": cred(pw), "smtp": SMTP}

    def refused(pw):
        return (pw.lower() in LARAVEL_WORDS or (len(pw) >= 2 and pw[0] in "'\"" and pw[-1] == pw[0])
                or has_break(pw))

    accepted = write_corpus(tmp_path, params, refused)
    php = ("require '/usr/share/php/Dotenv/autoload.php';"
           "foreach (array_slice($argv, 1) as $d) {"
           " $e = Dotenv\\Dotenv::createArrayBacked($d)->load();"
           " if ($e['MAIL_MAILER'] !== 'smtp' || $e['APP_NAME'] !== 'Laravel') { exit(3); }"
           " echo bin2hex($e['MAIL_PASSWORD']), \"\\n\"; }")
    out = subprocess.run(["php", "-r", php] + [str(d) for d in accepted.values()], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert hexes(out) == list(accepted)


def test_django_settings_module(tmp_path):
    def params(d, pw):
        (d / "smtp_settings.py").write_text("DEBUG = False\n")
        return {"preset": "django", "path": str(d / "smtp_settings.py"), "credential": cred(pw), "smtp": SMTP}

    accepted = write_corpus(tmp_path, params, never)
    for pw, d in accepted.items():
        ns = runpy.run_path(str(d / "smtp_settings.py"))
        assert ns["EMAIL_HOST_PASSWORD"] == pw
        assert ns["EMAIL_PORT"] == 587 and ns["EMAIL_USE_TLS"] is True and ns["DEBUG"] is False


def test_gitlab_ruby(tmp_path):
    def params(d, pw):
        (d / "gitlab.rb").write_text("external_url 'https://gitlab.example.com'\n# gitlab_rails['smtp_enable'] = true\n")
        return {"preset": "gitlab", "path": str(d / "gitlab.rb"), "credential": cred(pw), "smtp": SMTP}

    accepted = write_corpus(tmp_path, params, never)
    rb = ("def external_url(u); end\n"
          "ARGV.each do |f|\n"
          "  gitlab_rails = {}\n"
          "  eval(File.read(f, encoding: 'UTF-8'), binding)\n"
          "  raise 'port' unless gitlab_rails['smtp_port'] == 587 && gitlab_rails['smtp_enable'] == true\n"
          "  puts gitlab_rails['smtp_password'].unpack1('H*')\n"
          "end\n")
    out = subprocess.run(["ruby", "-e", rb] + [str(d / "gitlab.rb") for d in accepted.values()], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert hexes(out) == list(accepted)


def test_gitlab_graph_mailer_parses(tmp_path):
    oauth = {"type": "oauth2", "username": USER, "tenant_id": "t-1", "client_id": "c-1",
             "client_secret": CORPUS[17], "vault": {"path": "smtp/app", "mount": "secret", "version": 1}}
    from .conftest import write
    write({"preset": "gitlab", "path": str(tmp_path / "gitlab.rb"), "credential": oauth,
           "smtp": {"profile": "m365", "mechanism": "xoauth2"}})
    rb = ("gitlab_rails = {}\n eval(File.read(ARGV[0], encoding: 'UTF-8'), binding)\n"
          "puts [gitlab_rails['smtp_enable'], gitlab_rails['microsoft_graph_mailer_enabled'],"
          " gitlab_rails['microsoft_graph_mailer_tenant'], gitlab_rails['microsoft_graph_mailer_azure_ad_endpoint'],"
          " gitlab_rails['microsoft_graph_mailer_client_secret'].unpack1('H*')].join(' ')\n")
    out = subprocess.run(["ruby", "-e", rb, str(tmp_path / "gitlab.rb")], check=True, capture_output=True,
                         text=True).stdout.split()
    assert out[:4] == ["false", "true", "t-1", "https://login.microsoftonline.com"]
    assert bytes.fromhex(out[4]).decode() == CORPUS[17]


def test_nextcloud_php(tmp_path):
    def params(d, pw):
        return {"preset": "nextcloud", "path": str(d / "smtp.config.php"), "credential": cred(pw), "smtp": SMTP}

    accepted = write_corpus(tmp_path, params, never)
    php = ("foreach (array_slice($argv, 1) as $f) { $CONFIG = null; include $f;"
           " if ($CONFIG['mail_smtpport'] !== 587 || $CONFIG['mail_domain'] !== 'contoso.com') { exit(3); }"
           " echo bin2hex($CONFIG['mail_smtppassword']), \"\\n\"; }")
    out = subprocess.run(["php", "-r", php] + [str(d / "smtp.config.php") for d in accepted.values()],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    assert hexes(out) == list(accepted)


def test_yaml_merge_pyyaml_and_ruamel(tmp_path):
    """Written, rerun, rotated and back (as write_corpus does), then read by PyYAML (YAML 1.1,
    where NEL, LS and PS are line breaks) and by ruamel.yaml (YAML 1.2)."""
    from ruamel.yaml import YAML

    from ansible_collections.mailops.smtp.plugins.plugin_utils import _yaml_merge

    from .conftest import BREAKS, rotated

    def merge(text, pw):
        return _yaml_merge.merge(text, [("smtp.password", pw, True), ("smtp.host", "h", False)],
                                 cred(pw), "k", "/x.yml")

    old = "# top comment\napp:\n  name: x  # inline kept\nsmtp:\n  port: 25\n"
    for pw in CORPUS:
        m = merge(old, pw)
        assert "# inline kept" in m["content"] and "# top comment" in m["content"]
        assert pw not in m["after"] or len(pw) < 3
        again = merge(m["content"], pw)
        assert again["content"] == m["content"] and not again["secret_changed"]
        for value in (rotated(pw), pw):
            m = merge(m["content"], value)
            assert m["changed"] and m["secret_changed"]
        assert not merge(m["content"], pw)["changed"]
        assert not any(ch in m["content"] for ch in BREAKS if ch != "\n")
        want = {"app": {"name": "x"}, "smtp": {"port": 25, "password": pw, "host": "h"}}
        assert yaml.safe_load(m["content"]) == want
        assert YAML(typ="safe", pure=True).load(m["content"]) == want
        assert YAML(typ="rt").load(m["content"]) == want
