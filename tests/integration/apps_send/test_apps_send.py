# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Proof by the applications' own mail libraries (issue 20, section 4), on one lab host.

Every preset and generic format that has no sender of its own in the other suites (msmtp and
Postfix do) is an application on host1. Each application's own mail library
(tests/lab/senders: Django, Symfony Mailer for Laravel and Nextcloud, Jakarta Mail for Spring,
gopkg.in/mail.v2 with go-ini for Grafana, which Debian does not package, the mail gem for
GitLab, smtplib after each generic format's reference parser) reads the file the smtp_configure
role wrote and sends one message. The module tells the retirement of basic auth as it happens:

1. Before: one configure run writes every file with a password (direct to the Microsoft 365
   stand-in); each library logs in with LOGIN over TLS and its message arrives.
2. The retirement: the stand-in's basic auth is switched off for the mailboxes (`550 5.7.30`);
   the same files now fail, and each sender exits with its library's error.
3. After: the smtp_relay role makes host1's Postfix a relay on the loopback, upstream `xoauth2`
   with the `oauth2` credential from the lab's OpenBao; one configure run moves every application
   to `options.mode: via_relay` (the same files: the login is removed from each). Each library
   sends again, and the stand-in's record shows, per application, that the message came through
   the relay: the relay's Postfix took it from 127.0.0.1 without TLS or login (its Received
   header), its log shows the queue id handed to the `mailops_xoauth2` transport, and the
   stand-in saw an XOAUTH2 login as the mailbox with a token of the lab's app registration
   (auth_app), from host1's address.
4. The relay's other upstream modes, on the same files: `connector` (client certificate, no
   login) and `basic` (a password, while a tenant re-enables basic auth; after the retirement its
   mail is deferred, not lost). The role is run again on host1 for each; the applications'
   files do not change, since the relay stays on 127.0.0.1:25.

The tests run in file order and share one host, one configure run per mode and one relay set-up
per upstream (module fixtures); the xoauth2 relay's run goes on in the background while steps 1
and 2 run, which do not use host1's Postfix. The apps that read only the system trust store find the lab CA
there (tests/lab/trust.py, in the host's own /etc overlay).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.integration.configure.conftest import Configure, Run, header, wait_for_message
from tests.integration.presets.conftest import failures, host_sh, pick
# Fixtures: host1's Postfix as the lab made it, before and after the module; the relay playbook.
from tests.integration.relay.conftest import pristine_relay_host, relay_runner  # noqa: F401 pylint: disable=unused-import
from tests.integration.relay.conftest import RELAY, messages_to, queued_recipients, wait_log
from tests.lab.senders import GENERIC, send_as
from tests.lab.trust import lab_ca_trusted

HOST = RELAY  # the applications and their relay share host1
ROOT = "/srv/mailops-apps-send"
DOMAIN = "contoso.com"
PASSWORD = pick("a'\"'\"b")[0]

# The role's items, one per application, and what the sender needs besides the file. The
# generic formats map the login's keys in both modes: via_relay deletes what they name.
GENERIC_KEYS = {
    "env": {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER", "password": "SMTP_PASSWORD",
            "from_address": "SMTP_FROM"},
    "ini": {"host": "host", "port": "port", "username": "user", "password": "password", "from_address": "from"},
    "json": {"host": "mail.host", "port": "mail.port", "username": "mail.user", "password": "mail.password",
             "from_address": "mail.from"},
    "yaml": {"host": "mail.host", "port": "mail.port", "username": "mail.user", "password": "mail.password",
             "from_address": "mail.from"},
    "properties": {"host": "mail.host", "port": "mail.port", "username": "mail.user",
                   "password": "mail.password", "from_address": "mail.from"},
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
# One application per library family through the relay's other upstreams: the app-to-relay hop is
# the same for all of them (proved per application through xoauth2), what changes is the upstream.
OTHER_UPSTREAM_APPS = ["django", "spring"]


def configured_path(app: str) -> str:
    if app in GENERIC:
        return "%s/generic/%s" % (ROOT, GENERIC_FILES[app])
    return "%s/%s" % (ROOT, PRESET_FILES[app])


def role_item(app: str, options: dict | None = None) -> dict:
    if app in GENERIC:
        item = {"format": app, "path": configured_path(app), "keys": GENERIC_KEYS[app]}
        if app == "ini":
            item["section"] = "mail"
    else:
        item = {"preset": app, "path": configured_path(app)}
        # These read only the system trust store: no extra CA (docs/configure.md).
        if app in ("django", "laravel", "nextcloud", "spring", "grafana"):
            item["smtp"] = {"ca_path": None}
    return dict(item, options=options) if options else item


# ---- fixtures ------------------------------------------------------------------------------------

def clean(lab) -> None:
    host_sh(lab, HOST, 'rm -rf "$1"', ROOT)


@pytest.fixture(scope="module")
def app_host(lab, pristine_relay_host):
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
def configure(lab, tmp_path_factory):
    return Configure(lab, tmp_path_factory.mktemp("apps-send"))


@pytest.fixture(scope="module")
def mailbox(lab, standins, app_host, configure, relay_setup):
    """Before the retirement: one smtp_configure run writes every application's file with a password."""
    box = "apps-send-%s@contoso.com" % uuid.uuid4().hex[:8]
    standins.control.set_mailbox(box, passwords=[PASSWORD])
    role_vars = {
        "smtp_configure_ca_path": lab.ca,
        "smtp_configure_credential": {"type": "basic", "username": box, "password": PASSWORD},
        "smtp_configure_from_address": box,
        "smtp_configure_apps": [role_item(app) for app in APPS],
        # No gitlab-ctl on a lab host.
        "smtp_configure_preset_reload": {"postfix": "postfix reload", "gitlab": "/bin/true"},
    }
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, failures(run)
    assert PASSWORD not in run.output
    return box


@pytest.fixture(scope="module")
def basic_auth_off(standins, mailbox):
    """The retirement: the stand-in answers every password login of both mailboxes with 550 5.7.30."""
    boxes = (mailbox, standins.mailbox)
    for box in boxes:
        standins.control.set_mailbox(box, basic_auth_retired=True)
    yield boxes
    for box in boxes:
        standins.control.set_mailbox(box, basic_auth_retired=False)


class Relay:
    """host1's Postfix as the smtp_relay role makes it, in one upstream mode at a time."""

    def __init__(self, lab, standins, runner):
        self.lab, self.standins, self.runner = lab, standins, runner
        self.upstream = None
        self.pending = None  # (upstream, process, log) of a run started and not yet finished
        self.lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())

    def role_vars(self, upstream: str) -> dict:
        # Listening on the loopback (the default). The packages are the machine's, shared by every lab
        # host through /usr; the relay's own tests install them through the role.
        common = {"smtp_relay_upstream": upstream, "smtp_relay_ca_path": self.lab.ca,
                  "smtp_relay_recipient_domains": [DOMAIN], "smtp_relay_install_packages": False}
        if upstream == "xoauth2":
            return dict(common, smtp_relay_vault=self.lab_vars["mailops_smtp_vault_oauth"])
        if upstream == "basic":
            return dict(common, smtp_relay_vault=self.lab_vars["mailops_smtp_vault"])
        client = self.lab.state["pki"]["client"]
        return dict(common, smtp_relay_tenant=self.lab.state["tenant_domain"],
                    smtp_relay_client_cert=client["cert"], smtp_relay_client_key=client["key"],
                    smtp_relay_from_address=self.standins.mailbox)

    def start(self, upstream: str) -> None:
        """Start the role's run in the background; finish() waits for it."""
        assert self.pending is None, "a relay run is already going"
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        log = self.runner.scratch / ("relay-%s-%s.log" % (upstream, uuid.uuid4().hex[:8]))
        with open(log, "w") as out:  # a file, not a pipe that nobody reads while the run goes on
            proc = subprocess.Popen([exe, "-i", str(self.lab.inventory),
                                     *self.runner.argv(HOST, self.role_vars(upstream))],
                                    stdout=out, stderr=subprocess.STDOUT, text=True, env=self.runner.env(),
                                    cwd=str(self.lab.dir))
        self.pending = (upstream, proc, log)

    def finish(self) -> None:
        if self.pending is None:
            return
        upstream, proc, log = self.pending
        self.pending = None
        rc = proc.wait(timeout=600)
        run = Run(rc, log.read_text(), "")
        assert run.rc == 0, failures(run)
        assert self.standins.password not in run.output and self.standins.app.secret not in run.output
        self.upstream = upstream

    def use(self, upstream: str) -> None:
        self.finish()
        if self.upstream != upstream:
            self.start(upstream)
            self.finish()


@pytest.fixture(scope="module")
def relay_setup(lab, standins, app_host, relay_runner):
    """The xoauth2 relay's run, started before anything else of the module and left going meanwhile: it
    writes only Postfix's and the relay's own files, which the direct-mode tests do not use."""
    sasl_map = "/etc/postfix/sasl_passwd"
    had_sasl_map = lab.host_run(HOST, ["test", "-e", sasl_map], check=False).returncode == 0
    r = Relay(lab, standins, relay_runner)
    r.start("xoauth2")
    try:
        yield r
    finally:
        if r.pending:  # never leave a run going into the restore of host1
            r.pending[1].wait(timeout=600)
        # The basic upstream's password map: the restore of host1 (relay/conftest.py) does not know it.
        if not had_sasl_map:
            host_sh(lab, HOST, 'rm -f "$1" "$1.db"', sasl_map)


@pytest.fixture(scope="module")
def relay(relay_setup, basic_auth_off):
    """host1's Postfix as a relay on the loopback, upstream xoauth2 (the oauth2 credential from OpenBao)."""
    relay_setup.use("xoauth2")
    return relay_setup


@pytest.fixture(scope="module")
def via_relay(lab, standins, mailbox, configure, relay):
    """After: one smtp_configure run moves every application's file (the same files) to via_relay."""
    role_vars = {
        "smtp_configure_from_address": standins.mailbox,
        "smtp_configure_apps": [role_item(app, {"mode": "via_relay"}) for app in APPS],
        "smtp_configure_preset_reload": {"postfix": "postfix reload", "gitlab": "/bin/true"},
    }
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, failures(run)
    return standins.mailbox


# ---- helpers ---------------------------------------------------------------------------------------

def masked(text: str) -> str:
    return text.replace(PASSWORD, "<password>")[-2000:]


def send(lab, app: str, *, sender: str, tag: str):
    """The app's own library sends one message from its file; (process, subject, recipient).

    Each message has a recipient of its own, so that the relay's log names it alone."""
    key = uuid.uuid4().hex[:12]
    subject, to = "apps-send %s %s %s" % (tag, app, key), "apps-%s-%s@%s" % (app, key, DOMAIN)
    p = send_as(lab, app, configured_path(app), HOST, to=to, subject=subject, sender=sender,
                keys=GENERIC_KEYS.get(app), section="mail" if app == "ini" else None)
    return p, subject, to


def sent(lab, app: str, *, sender: str, tag: str) -> tuple:
    p, subject, to = send(lab, app, sender=sender, tag=tag)
    assert p.returncode == 0, "%s sender failed (%d): %s" % (app, p.returncode, masked(p.stderr + p.stdout))
    return subject, to


def arrived_once(standins, subject: str) -> dict:
    m = wait_for_message(standins, subject)
    same = [x for x in standins.control.messages() if header(x, "Subject") == subject]
    assert len(same) == 1, "%d messages with the subject %r" % (len(same), subject)
    return m


# Postfix's Received header for a message taken on the loopback: "with ESMTP" (UTF8SMTP for a client
# that asked for SMTPUTF8, as gomail does), without Postfix's S (TLS) or A (login) suffix, says the
# application neither used TLS nor logged in.
RECEIVED_BY_RELAY = re.compile(
    r"^from \S+ \(\S* ?\[127\.0\.0\.1\]\)\s+by (\S+) \(Postfix\) with (?:ESMTP|UTF8SMTP) id (\w+)")


def relay_hop(lab, m: dict, to: str) -> dict:
    """How the message went through host1's relay: its queue id there and the log line of its delivery."""
    received = [v for k, v in m["headers"] if k.lower() == "received"]
    assert received, "no Received header: the message did not pass through a Postfix"
    hop = RECEIVED_BY_RELAY.match(received[0])
    assert hop, "the last hop was not host1's Postfix taking the message from 127.0.0.1: %r" % received[0]
    by, qid = hop.groups()
    assert by == lab.host_run(HOST, ["postconf", "-h", "myhostname"]).stdout.strip(), by
    line = wait_log(lab, r"\b%s: to=<%s>, relay=.*status=sent" % (qid, re.escape(to)), timeout=30)
    return {"queue_id": qid, "log": line.group(0)}


def common_name(cert_file: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def assert_from_relay(lab, standins, m: dict, to: str) -> None:
    """The upstream session came from host1, as the relay's sender (the mailbox), to the recipient."""
    assert m["peer"][0] == lab.host(HOST)["ip"]
    assert (m["envelope_from"], m["rcpt_tos"]) == (standins.mailbox, [to])
    assert standins.mailbox in header(m, "From")
    assert m["tls_version"] in ("TLSv1.2", "TLSv1.3")


# ---- 1. before: each application logs in with a password ----------------------------------------

@pytest.mark.parametrize("app", APPS)
def test_before_the_retirement_the_app_logs_in_and_sends_with_its_own_library(lab, standins, mailbox, app):
    subject, to = sent(lab, app, sender=mailbox, tag="direct")
    m = arrived_once(standins, subject)
    assert m["listener"] == "smtp:587"
    assert (m["auth_mechanism"], m["auth_identity"]) == ("LOGIN", mailbox)
    assert (m["envelope_from"], m["rcpt_tos"]) == (mailbox, [to])
    assert mailbox in header(m, "From")
    assert m["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert not [v for k, v in m["headers"] if k.lower() == "received"]  # no relay on the way


# ---- 2. the retirement: the same files fail -----------------------------------------------------

@pytest.mark.parametrize("app", APPS)
def test_after_the_retirement_the_password_login_fails_with_the_librarys_error(
        lab, standins, mailbox, basic_auth_off, app):
    """The senders' exit code is the library's verdict: the refused login is a failure, with the reply."""
    p, subject, _to = send(lab, app, sender=mailbox, tag="retired")
    out = p.stderr + p.stdout
    assert p.returncode == 1, "%s: exit %d: %s" % (app, p.returncode, masked(out))
    assert "550" in out and "5.7.30" in out, masked(out)
    assert PASSWORD not in out
    assert not [x for x in standins.control.messages() if header(x, "Subject") == subject]


# ---- 3. after: every application through the relay, upstream xoauth2 ---------------------------

def test_moving_to_via_relay_leaves_no_login_in_any_file(lab, mailbox, via_relay):
    paths = [configured_path(app) for app in APPS]
    p = host_sh(lab, HOST, 'box=$1; shift; grep -l -F -e "$box" -- "$@"; true', mailbox, *paths)
    assert p.stdout.split() == [], "the old login (%s) is still in: %s" % (mailbox, p.stdout.split())
    # Nor the password's key (its value, a'"'"b, is written escaped in each syntax).
    p = host_sh(lab, HOST, 'grep -i -n -e password -- "$@"; true', *paths)
    assert p.stdout == "", "a password key is still there:\n" + p.stdout
    p = host_sh(lab, HOST, 'grep -l -F -e 127.0.0.1 -- "$@"; true', *paths)
    assert sorted(p.stdout.split()) == sorted(paths)  # every file names the relay


@pytest.mark.parametrize("app", APPS)
def test_the_app_sends_through_the_relay_which_logs_in_with_xoauth2_as_the_app_registration(
        lab, standins, via_relay, relay, app):
    relay.use("xoauth2")
    subject, to = sent(lab, app, sender=via_relay, tag="via-xoauth2")
    m = arrived_once(standins, subject)
    assert m["listener"] == "smtp:587"
    assert (m["auth_mechanism"], m["auth_identity"], m["auth_app"]) == (
        "XOAUTH2", standins.mailbox, standins.app.client_id.lower())
    assert_from_relay(lab, standins, m, to)
    hop = relay_hop(lab, m, to)
    assert ", relay=mailops_xoauth2," in hop["log"], hop


# ---- 4. the relay's other upstreams, on the same files ------------------------------------------

@pytest.mark.parametrize("app", OTHER_UPSTREAM_APPS)
def test_the_app_sends_through_the_relay_over_the_connector(lab, standins, via_relay, relay, app):
    relay.use("connector")
    subject, to = sent(lab, app, sender=via_relay, tag="via-connector")
    m = arrived_once(standins, subject)
    assert m["listener"] == "connector:25"
    # No login: the connector knew the relay by the client certificate the role gave it.
    client_cert = lab.state["pki"]["client"]["cert"]
    assert (m["auth_mechanism"], m["auth_identity"]) == ("certificate", common_name(client_cert))
    assert_from_relay(lab, standins, m, to)
    hop = relay_hop(lab, m, to)
    assert ", relay=%s[" % lab.state["connector_host"] in hop["log"], hop


@pytest.fixture
def basic_auth_on_again(standins, basic_auth_off):
    """A tenant that re-enabled basic auth for a while: the relay's mailbox only."""
    standins.control.set_mailbox(standins.mailbox, basic_auth_retired=False)
    yield standins.mailbox
    standins.control.set_mailbox(standins.mailbox, basic_auth_retired=True)


@pytest.mark.parametrize("app", OTHER_UPSTREAM_APPS)
def test_the_app_sends_through_the_relay_with_a_password_while_basic_auth_is_on(
        lab, standins, via_relay, relay, basic_auth_on_again, app):
    relay.use("basic")
    subject, to = sent(lab, app, sender=via_relay, tag="via-basic")
    m = arrived_once(standins, subject)
    assert m["listener"] == "smtp:587"
    assert (m["auth_mechanism"], m["auth_identity"]) == ("LOGIN", standins.mailbox)
    assert_from_relay(lab, standins, m, to)
    hop = relay_hop(lab, m, to)
    assert ", relay=smtp.office365.com[" in hop["log"], hop


def test_after_the_retirement_a_basic_relay_defers_and_keeps_the_message(lab, standins, via_relay, relay):
    """The relay's `basic` upstream stops at the retirement, and its mail waits in the queue."""
    relay.use("basic")
    subject, to = sent(lab, OTHER_UPSTREAM_APPS[0], sender=via_relay, tag="via-basic-retired")
    wait_log(lab, r"to=<%s>, relay=smtp\.office365\.com\[.*status=deferred .*550 5\.7\.30" % re.escape(to))
    queued = lab.host_run(HOST, ["postqueue", "-p"]).stdout
    assert to in queued, queued
    assert not [x for x in standins.control.messages() if header(x, "Subject") == subject]


def test_back_to_xoauth2_the_password_map_goes_and_the_queued_message_is_delivered(lab, standins, via_relay, relay):
    """Moving the relay off `basic` removes the SASL map that holds the password; the message the retired
    basic upstream deferred (the test above) leaves the queue through XOAUTH2."""
    queued = queued_recipients(lab)
    assert queued, "the test above leaves a deferred message"
    assert lab.host_run(HOST, ["test", "-e", "/etc/postfix/sasl_passwd"], check=False).returncode == 0
    relay.use("xoauth2")
    maps = lab.host_run(HOST, ["sh", "-c", "ls /etc/postfix/sasl_passwd* 2>/dev/null; true"]).stdout.split()
    assert maps == []
    conf = lab.host_run(HOST, ["postconf", "-n"]).stdout
    assert "smtp_sasl_password_maps" not in conf and "smtp_sasl_auth_enable" not in conf
    lab.host_run(HOST, ["postqueue", "-f"])
    deadline = time.monotonic() + 90
    while any(not messages_to(standins, to) for to in queued):
        assert time.monotonic() < deadline, lab.host_run(HOST, ["postqueue", "-p"]).stdout
        time.sleep(1)
    for to in queued:
        got = messages_to(standins, to)
        assert len(got) == 1 and got[0]["auth_mechanism"] == "XOAUTH2", got
