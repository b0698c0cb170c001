# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Proof by the applications' own mail libraries (issue 20, section 4), on one lab host.

Every preset and generic format that has no sender of its own in the other suites (msmtp and
Postfix do) is configured by the smtp_configure role in ONE run, with a password credential
against the Microsoft 365 stand-in (basic auth still on). Then each application's own mail
library (tests/lab/senders: Django, Symfony Mailer for Laravel and Nextcloud, Jakarta Mail for
Spring, gopkg.in/mail.v2 with go-ini for Grafana, which Debian does not package, the mail gem for
GitLab, smtplib after each generic format's reference parser) reads the file the role wrote and
sends one message; the stand-in's record must show exactly that message, logged in as the mailbox
with LOGIN over TLS. The apps that read only the system trust store find the lab CA there
(tests/lab/trust.py, in the host's own /etc overlay).

Second, the shape `options.mode: via_relay` will write (issue 20 section 2: host and port of a
relay on loopback, no user, no password, no TLS): each sender sends through a plain sink on the
host's loopback (tests/lab/senders/sink.py), which offers no STARTTLS, and must neither log in
(the sink offers AUTH, to catch it) nor try STARTTLS. THOSE FILES ARE HAND-WRITTEN (RELAY_FILES
below) because via_relay does not exist yet: the session that adds it swaps them for the role's
output (the same APPS with options.mode via_relay) and the sink for the smtp_relay role's Postfix,
and then asserts from the stand-in's record that the relay logged in with XOAUTH2.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.configure.conftest import Configure, header, wait_for_message
from tests.integration.presets.conftest import failures, host_sh, pick
from tests.lab.senders import GENERIC, send_as
from tests.lab.sysutil import in_host
from tests.lab.trust import lab_ca_trusted

HOST = "host1"
ROOT = "/srv/mailops-apps-send"
TO = "ops@contoso.com"
PASSWORD = pick("a'\"'\"b")[0]
SINK = Path(__file__).resolve().parents[2] / "lab" / "senders" / "sink.py"
SINK_PORT = 2525  # the host's own Postfix ("Local only") holds 127.0.0.1:25

# The role's items, one per application, and what the sender needs besides the file.
GENERIC_KEYS = {
    "env": {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER", "password": "SMTP_PASSWORD"},
    "ini": {"host": "host", "port": "port", "username": "user", "password": "password"},
    "json": {"host": "mail.host", "port": "mail.port", "username": "mail.user", "password": "mail.password"},
    "yaml": {"host": "mail.host", "port": "mail.port", "username": "mail.user", "password": "mail.password"},
    "properties": {"host": "mail.host", "port": "mail.port", "username": "mail.user",
                   "password": "mail.password"},
}
GENERIC_FILES = {"env": ".env", "ini": "app.ini", "json": "mail.json", "yaml": "mail.yml",
                 "properties": "mail.properties"}
PRESET_FILES = {
    "django": "django/portal/mail_settings.py",
    "laravel": "laravel/.env",
    "nextcloud": "nextcloud/config/smtp.config.php",
    "spring": "spring/config/application.properties",
    "grafana": "grafana/grafana.ini",
    "gitlab": "gitlab/gitlab.rb",
}
APPS = list(PRESET_FILES) + list(GENERIC)
# What each application's package leaves before the role runs (settings the role must keep).
SEED = {
    "laravel/.env": "APP_NAME=Laravel\n",
    "grafana/grafana.ini": "[server]\nhttp_port = 3000\n",
    "gitlab/gitlab.rb": "external_url 'https://gitlab.example.com'\n",
    "generic/app.ini": "[mail]\n",
    "generic/mail.json": "{}\n",
    "generic/mail.yml": "app:\n  name: x\n",
}


def configured_path(app: str) -> str:
    if app in GENERIC:
        return "%s/generic/%s" % (ROOT, GENERIC_FILES[app])
    return "%s/%s" % (ROOT, PRESET_FILES[app])


def role_item(app: str) -> dict:
    if app in GENERIC:
        item = {"format": app, "path": configured_path(app), "keys": GENERIC_KEYS[app]}
        return dict(item, section="mail") if app == "ini" else item
    item = {"preset": app, "path": configured_path(app)}
    # These read only the system trust store: no extra CA (docs/configure.md).
    if app in ("django", "laravel", "nextcloud", "spring", "grafana"):
        item["smtp"] = {"ca_path": None}
    return item


# ---- HAND-WRITTEN files in the shape via_relay will write (to be replaced by its output) -------

RELAY_FROM = "apps-relay@contoso.com"
RELAY_HOST = "127.0.0.1"
RELAY_KEYS = {"env": {"host": "SMTP_HOST", "port": "SMTP_PORT", "from_address": "SMTP_FROM"},
              "ini": {"host": "host", "port": "port", "from_address": "from"},
              "json": {"host": "mail.host", "port": "mail.port", "from_address": "mail.from"},
              "yaml": {"host": "mail.host", "port": "mail.port", "from_address": "mail.from"},
              "properties": {"host": "mail.host", "port": "mail.port", "from_address": "mail.from"}}
RELAY_FILES = {
    "django": ("EMAIL_BACKEND = 'django.core.mail.backends.smtp.EmailBackend'\n"
               "EMAIL_HOST = '%s'\nEMAIL_PORT = %d\nEMAIL_USE_TLS = False\nEMAIL_USE_SSL = False\n"
               "DEFAULT_FROM_EMAIL = '%s'\nSERVER_EMAIL = '%s'\n"
               % (RELAY_HOST, SINK_PORT, RELAY_FROM, RELAY_FROM)),
    "laravel": ("APP_NAME=Laravel\nMAIL_MAILER=smtp\nMAIL_HOST=%s\nMAIL_PORT=%d\nMAIL_FROM_ADDRESS=%s\n"
                % (RELAY_HOST, SINK_PORT, RELAY_FROM)),
    "nextcloud": ("<?php\n$CONFIG = array(\n  'mail_smtpmode' => 'smtp',\n  'mail_smtphost' => '%s',\n"
                  "  'mail_smtpport' => %d,\n  'mail_smtpsecure' => '',\n  'mail_smtpauth' => false,\n"
                  "  'mail_from_address' => '%s',\n  'mail_domain' => '%s',\n);\n"
                  % ((RELAY_HOST, SINK_PORT) + tuple(RELAY_FROM.split("@")))),
    "spring": "spring.mail.host=%s\nspring.mail.port=%d\nspring.mail.protocol=smtp\n" % (RELAY_HOST, SINK_PORT),
    "grafana": ("[smtp]\nenabled = true\nhost = %s:%d\nfrom_address = %s\nstartTLS_policy = NoStartTLS\n"
                % (RELAY_HOST, SINK_PORT, RELAY_FROM)),
    "gitlab": ("external_url 'https://gitlab.example.com'\ngitlab_rails['smtp_enable'] = true\n"
               "gitlab_rails['smtp_address'] = '%s'\ngitlab_rails['smtp_port'] = %d\n"
               "gitlab_rails['gitlab_email_from'] = '%s'\n" % (RELAY_HOST, SINK_PORT, RELAY_FROM)),
    "env": "SMTP_HOST=%s\nSMTP_PORT=%d\nSMTP_FROM=%s\n" % (RELAY_HOST, SINK_PORT, RELAY_FROM),
    "ini": "[mail]\nhost = %s\nport = %d\nfrom = %s\n" % (RELAY_HOST, SINK_PORT, RELAY_FROM),
    "json": json.dumps({"mail": {"host": RELAY_HOST, "port": SINK_PORT, "from": RELAY_FROM}}) + "\n",
    "yaml": "mail:\n  host: %s\n  port: %d\n  from: %s\n" % (RELAY_HOST, SINK_PORT, RELAY_FROM),
    "properties": "mail.host=%s\nmail.port=%d\nmail.from=%s\n" % (RELAY_HOST, SINK_PORT, RELAY_FROM),
}


def relay_path(app: str) -> str:
    return "%s/relay/%s" % (ROOT, configured_path(app)[len(ROOT) + 1:])


# ---- fixtures ------------------------------------------------------------------------------------

def clean(lab) -> None:
    host_sh(lab, HOST, 'rm -rf "$1"', ROOT)


@pytest.fixture(scope="module")
def app_host(lab):
    """HOST with each application's directories and seed files, and the lab CA in its system store."""
    clean(lab)
    for app in APPS:
        host_sh(lab, HOST, 'mkdir -p "$(dirname "$1")"', configured_path(app))
    for rel, text in SEED.items():
        host_sh(lab, HOST, 'cat > "$1"', "%s/%s" % (ROOT, rel), input=text)
    with lab_ca_trusted(lab, HOST):
        yield HOST
    clean(lab)


@pytest.fixture(scope="module")
def mailbox(lab, standins, app_host, tmp_path_factory):
    """One smtp_configure run writes every application's file for a new mailbox."""
    box = "apps-send-%s@contoso.com" % uuid.uuid4().hex[:8]
    standins.control.set_mailbox(box, passwords=[PASSWORD])
    role_vars = {
        "smtp_configure_ca_path": lab.ca,
        "smtp_configure_credential": {"type": "basic", "username": box, "password": PASSWORD},
        "smtp_configure_apps": [role_item(app) for app in APPS],
        # No gitlab-ctl on a lab host.
        "smtp_configure_preset_reload": {"postfix": "postfix reload", "gitlab": "/bin/true"},
    }
    run = Configure(lab, tmp_path_factory.mktemp("apps-send")).run(HOST, role_vars)
    assert run.rc == 0, failures(run)
    assert PASSWORD not in run.output
    return box


@pytest.fixture(scope="module")
def loopback_sink(lab, app_host):
    """The plain sink on HOST's loopback, and the hand-written relay files; the JSON-lines record."""
    for app, text in RELAY_FILES.items():
        host_sh(lab, HOST, 'mkdir -p "$(dirname "$1")" && cat > "$1"', relay_path(app), input=text)
    record = lab.dir / ("apps-send-sink-%s.jsonl" % uuid.uuid4().hex[:8])
    record.write_text("")
    cmd = in_host(lab.host(HOST)["pid"], [sys.executable, "-B", str(SINK), "--port", str(SINK_PORT),
                                          "--out", str(record)])
    log = record.with_suffix(".log")
    with open(log, "w") as err:  # aiosmtpd's own log: kept off the pipe, which nobody reads later
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        readable = select.select([proc.stdout], [], [], 30)[0]
        line = proc.stdout.readline() if readable else ""
        assert line.strip() == "listening", "the sink did not start: %r %s" % (line, log.read_text()[-1000:])
        yield record
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        record.unlink()
        log.unlink()


def masked(text: str) -> str:
    return text.replace(PASSWORD, "<password>")[-2000:]


def sent(lab, app, path, *, sender, keys):
    subject = "apps-send %s %s" % (app, uuid.uuid4().hex)
    p = send_as(lab, app, path, HOST, to=TO, subject=subject, sender=sender, keys=keys,
                section="mail" if app == "ini" else None)
    assert p.returncode == 0, "%s sender failed (%d): %s" % (app, p.returncode, masked(p.stderr + p.stdout))
    return subject


# ---- the tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("app", APPS)
def test_the_app_logs_in_and_sends_with_its_own_library(lab, standins, mailbox, app):
    subject = sent(lab, app, configured_path(app), sender=mailbox, keys=GENERIC_KEYS.get(app))
    m = wait_for_message(standins, subject)
    same = [x for x in standins.control.messages() if header(x, "Subject") == subject]
    assert len(same) == 1, "%d messages with the subject %r" % (len(same), subject)
    assert m["listener"] == "smtp:587"
    assert (m["auth_mechanism"], m["auth_identity"]) == ("LOGIN", mailbox)
    assert (m["envelope_from"], m["rcpt_tos"]) == (mailbox, [TO])
    assert mailbox in header(m, "From")
    assert m["tls_version"] in ("TLSv1.2", "TLSv1.3")


@pytest.fixture
def password_changed(standins, mailbox):
    """The mailbox's password changed behind the files' back; put back afterwards."""
    standins.control.set_mailbox(mailbox, passwords=["changed-" + uuid.uuid4().hex])
    yield mailbox
    standins.control.set_mailbox(mailbox, passwords=[PASSWORD])


@pytest.mark.parametrize("app", APPS)
def test_the_sender_fails_with_the_librarys_error_when_the_login_is_refused(lab, standins, password_changed, app):
    """The senders' exit code is the library's verdict: a refused login is a failure, with the reply."""
    subject = "apps-send refused %s %s" % (app, uuid.uuid4().hex)
    p = send_as(lab, app, configured_path(app), HOST, to=TO, subject=subject, sender=password_changed,
                keys=GENERIC_KEYS.get(app), section="mail" if app == "ini" else None)
    out = p.stderr + p.stdout
    assert p.returncode == 1, "%s: exit %d: %s" % (app, p.returncode, masked(out))
    assert "535" in out and "5.7.3" in out, masked(out)
    assert PASSWORD not in out
    assert not [x for x in standins.control.messages() if header(x, "Subject") == subject]


@pytest.mark.parametrize("app", APPS)
def test_the_app_sends_to_a_loopback_relay_without_auth_or_tls(lab, loopback_sink, app):
    # HAND-WRITTEN relay file (RELAY_FILES): swap for the via_relay output when it exists.
    subject = sent(lab, app, relay_path(app), sender=RELAY_FROM, keys=RELAY_KEYS.get(app))
    deadline = time.monotonic() + 10
    while True:
        got = [r for r in map(json.loads, loopback_sink.read_text().splitlines()) if r["subject"] == subject]
        if got or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(got) == 1, "%d messages with the subject %r at the sink" % (len(got), subject)
    r = got[0]
    assert (r["envelope_from"], r["rcpt_tos"]) == (RELAY_FROM, [TO])
    assert RELAY_FROM in r["from"]
    assert (r["tls"], r["authenticated"], r["unasked"]) == (False, False, [])
