# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.send_proof (issue 21, contract 4): the reading of each app's file and the proof kind it
gets, the relay log's verdict, and that no secret is ever in a proof.

Every file is written under tmp_path by the settings engine itself (the real presets), then read back
by the proof's reader: what send_proof sees is what mailops.smtp.settings wrote.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _proof, _proof_log, _proof_read, _proof_send
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from ansible_collections.mailops.smtp.plugins.modules import send_proof
from ansible_collections.mailops.smtp.plugins.plugin_utils import _relay
from tests.local_runner import run_local

REPO = Path(__file__).resolve().parents[4]
POSTFIX_DATA = REPO / "tests" / "data" / "postfix"
PASSWORD = "Pw'\"$#;-secret-91"
CLIENT_SECRET = "cs-7f3a-client-secret"
USER = "svc@contoso.com"
SMTP = {"host": "smtp.office365.com", "port": 587, "from_address": "alerts@contoso.com"}
BASIC = {"type": "basic", "username": USER, "password": PASSWORD}
OAUTH = {"type": "oauth2", "username": USER, "tenant_id": "t-1", "client_id": "c-1", "client_secret": CLIENT_SECRET}
LOOPBACK = {"mode": "via_relay"}
REMOTE = {"mode": "via_relay", "relay_host": "relay1.example.com", "relay_port": 587}
PRESET_FILES = {"msmtp": "msmtprc", "grafana": "grafana.ini", "gitlab": "gitlab.rb", "spring": "app.properties",
                "laravel": ".env", "django": "settings.py", "nextcloud": "config.php", "postfix": "postfix"}
GENERIC_KEYS = {"host": "mail.host", "port": "mail.port", "username": "mail.user", "password": "mail.password",
                "from_address": "mail.from"}
GENERIC_FILES = {"env": ".env", "ini": "app.ini", "json": "mail.json", "properties": "mail.properties"}
ENV_KEYS = {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER", "password": "SMTP_PASSWORD",
            "from_address": "SMTP_FROM"}


def write(tmp_path, preset=None, fmt=None, credential=None, options=None, smtp=None):
    """The app's file as mailops.smtp.settings writes it; returns the app dict send_proof takes."""
    credential = credential or BASIC
    smtp = smtp or SMTP
    name = PRESET_FILES.get(preset) or GENERIC_FILES[fmt]
    path = tmp_path / name
    if preset == "postfix" and not path.exists():
        path.mkdir()
        for name in ("main.cf", "master.cf"):
            shutil.copy2(POSTFIX_DATA / name, path / name)
    app = {"name": preset or fmt, "path": str(path), "options": options or {}}
    params = dict(path=str(path), smtp=smtp, credential=credential, options=options or {})
    if preset:
        app["preset"] = params["preset"] = preset
    else:
        keys = ENV_KEYS if fmt == "env" else GENERIC_KEYS
        app.update(format=fmt, keys=keys)
        params.update(format=fmt, keys=keys)
        if fmt == "ini":
            app["section"] = params["section"] = "mail"
    engine.execute(params, "k", run_local)
    return app


def run_cmd(argv, stdin_text, timeout):
    """The module's runner, in-process: (rc, out, err), rc None when the command cannot run."""
    try:
        p = subprocess.run(argv, input=stdin_text.encode(), capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


# ---- the reading and the proof kind, per preset ------------------------------------------------------

SPEAKERS = ["grafana", "gitlab", "spring", "laravel", "django", "nextcloud"]
# What each preset's file says about TLS on 587 (STARTTLS): nextcloud writes '' there, and its
# Symfony Mailer starts TLS whenever it is offered.
DIRECT_TLS = dict(dict.fromkeys(SPEAKERS + ["msmtp"], "starttls"), nextcloud="may")


@pytest.mark.parametrize("preset", SPEAKERS + ["msmtp"])
def test_a_password_is_basic_and_the_login_is_read_back(tmp_path, preset):
    view = _proof.decide(write(tmp_path, preset))
    assert (view["path"], view["host"], view["port"], view["tls"]) == (
        "basic", "smtp.office365.com", 587, DIRECT_TLS[preset])
    assert (view["user"], view["secret"]) == (USER, PASSWORD if preset != "msmtp" else None)
    assert view["kind"] == ("app_command" if preset == "msmtp" else "smtp_client")
    assert not view["via_log"]


def test_msmtp_keeps_its_password_in_its_own_file_and_is_proven_by_its_command(tmp_path):
    # msmtp reads its password itself: the proof runs msmtp and never needs the secret.
    view = _proof.decide(write(tmp_path, "msmtp", options={"account": "alerts"}))
    assert (view["kind"], view["account"], view["mechanism"]) == ("app_command", "alerts", "login")


def test_msmtp_with_xoauth2_is_proven_by_msmtp_itself(tmp_path):
    view = _proof.decide(write(tmp_path, "msmtp", credential=OAUTH))
    assert (view["kind"], view["path"], view["mechanism"], view["account"]) == (
        "app_command", "xoauth2", "xoauth2", "mailops")
    assert not view["via_log"]


def test_gitlab_with_the_graph_mailer_is_a_graph_proof(tmp_path):
    view = _proof.decide(write(tmp_path, "gitlab", credential=OAUTH))
    assert (view["kind"], view["path"], view["secret"]) == ("graph_client", "xoauth2", CLIENT_SECRET)
    assert view["graph"] == {"token_url": "https://login.microsoftonline.com/t-1/oauth2/v2.0/token",
                             "tenant_id": "t-1", "client_id": "c-1", "graph_url": "https://graph.microsoft.com",
                             "sender": USER}


@pytest.mark.parametrize("preset", SPEAKERS + ["msmtp"])
def test_via_relay_on_loopback_is_plain_without_login_and_judged_by_the_relay_log(tmp_path, preset):
    write(tmp_path, preset)  # first with a password, as a host being moved has it
    view = _proof.decide(write(tmp_path, preset, options=LOOPBACK))
    assert (view["path"], view["host"], view["port"], view["user"], view["secret"]) == (
        "via_relay", "127.0.0.1", 25, None, None)
    # No STARTTLS on loopback; the Symfony Mailer apps would take it if offered (the relay hides it there).
    assert view["tls"] == ("may" if preset in ("laravel", "nextcloud") else "none")
    assert view["via_log"] and view["relay_local"]
    assert view["kind"] == ("app_command" if preset == "msmtp" else "smtp_client")


@pytest.mark.parametrize("preset", ["grafana", "spring", "django", "msmtp", "gitlab"])
def test_via_a_designated_relay_starttls_and_not_local(tmp_path, preset):
    view = _proof.decide(write(tmp_path, preset, options=REMOTE))
    assert (view["path"], view["host"], view["port"], view["tls"]) == (
        "via_relay", "relay1.example.com", 587, "starttls")
    assert view["via_log"] and not view["relay_local"]


def test_postfix_on_a_password_via_a_relay_and_through_the_connector(tmp_path):
    basic = _proof.decide(write(tmp_path, "postfix", options={"map_type": "hash"}))
    assert (basic["kind"], basic["path"], basic["host"], basic["port"]) == (
        "app_command", "basic", "smtp.office365.com", 587)
    assert basic["via_log"] and basic["relay_local"]  # Postfix's verdict is in its own log
    via = _proof.decide(write(tmp_path, "postfix", options=REMOTE))
    assert (via["path"], via["host"], via["port"], via["tls"]) == ("via_relay", "relay1.example.com", 587,
                                                                   "starttls")
    conn = _proof.decide(write(tmp_path, "postfix", options={"mode": "connector", "tenant": "contoso.com"},
                               smtp={"host": None, "port": 25, "from_address": "alerts@contoso.com"}))
    assert (conn["path"], conn["host"], conn["port"]) == ("connector", "contoso-com.mail.protection.outlook.com",
                                                          25)


def test_postfix_as_the_xoauth2_relay_of_the_smtp_relay_role(tmp_path):
    d = tmp_path / "postfix"
    d.mkdir()
    (d / "main.cf").write_text("relayhost =\ndefault_transport = %s:m365\nrelay_transport = %s:m365\n"
                               % ((_relay.XOAUTH2_TRANSPORT,) * 2))
    view = _proof.decide({"preset": "postfix", "path": str(d)})
    assert (view["kind"], view["path"], view["mechanism"]) == ("app_command", "xoauth2", "xoauth2")


def test_the_relay_transport_name_is_the_relay_roles():
    assert _proof_read.RELAY_XOAUTH2_TRANSPORT == _relay.XOAUTH2_TRANSPORT


@pytest.mark.parametrize("fmt", sorted(GENERIC_FILES))
def test_generic_formats_direct_and_via_relay(tmp_path, fmt):
    view = _proof.decide(write(tmp_path, fmt=fmt))
    assert (view["path"], view["host"], view["port"], view["user"], view["secret"]) == (
        "basic", "smtp.office365.com", 587, USER, PASSWORD)
    assert view["tls"] == "starttls"  # no security key mapped: 587 means STARTTLS
    view = _proof.decide(write(tmp_path, fmt=fmt, options=LOOPBACK))
    assert (view["path"], view["host"], view["port"], view["user"], view["secret"]) == (
        "via_relay", "127.0.0.1", 25, None, None)


def test_yaml_cannot_be_read_on_the_target_and_the_proof_says_so(tmp_path):
    f = tmp_path / "mail.yml"
    f.write_text("mail:\n  host: smtp.office365.com\n")
    proof = _proof.prove_app({"name": "y", "format": "yaml", "path": str(f), "keys": GENERIC_KEYS},
                             None, "ops@contoso.com", run_cmd, senders=Refusing())
    assert (proof["accepted"], proof["kind"]) == (False, None)
    assert "yaml cannot be read on the target" in proof["message"]


def test_a_missing_file_is_not_proven(tmp_path):
    proof = _proof.prove_app({"preset": "grafana", "path": str(tmp_path / "none.ini")}, None, "ops@contoso.com",
                             run_cmd, senders=Refusing())
    assert proof["accepted"] is False and "does not exist" in proof["message"]


# ---- the values of each syntax, back exactly ---------------------------------------------------------

@pytest.mark.parametrize("preset", SPEAKERS)
def test_awkward_passwords_come_back_exactly(tmp_path, preset):
    for pw in ("a'b\"c\\d", "$x #y ;z", "naïve €", "  lead", "end\\"):
        cred = dict(BASIC, password=pw)
        try:
            app = write(tmp_path, preset, credential=cred)
        except engine.SettingsError:
            continue  # the format refuses it: nothing to read back
        assert _proof.decide(app)["secret"] == pw, (preset, pw)


# ---- sending and judging, with the senders stubbed ----------------------------------------------------

class Refusing:
    """Stub senders: each refuses with a reply that echoes the password (a hostile server)."""

    def __init__(self, reply="550 5.7.30 Basic authentication is not supported for Client Submission"):
        self.calls = []
        self.reply = reply

    build_message = staticmethod(_proof_send.build_message)

    def smtp_send(self, view, mail_from, to, message, **kw):
        self.calls.append(("smtp", view["host"], view["port"], mail_from, to))
        return _proof_send.result(False, _proof_send.scrub(self.reply + " " + PASSWORD, [view["secret"]]), "auth",
                                  "basic_auth_retired")

    def msmtp_send(self, *a, **kw):
        self.calls.append(("msmtp",) + a[:2])
        return _proof_send.result(True, "250 2.0.0 OK", "app_command")

    def sendmail_send(self, *a, **kw):
        self.calls.append(("sendmail",) + a[:1])
        return _proof_send.result(True, "queued", "app_command")

    def graph_send(self, view, *a, **kw):
        self.calls.append(("graph",))
        return _proof_send.graph_send(view, *a, loader=kw.pop("loader", None), **kw)


def test_a_refusal_carries_the_catalogue_code_and_microsofts_words_and_never_the_secret(tmp_path):
    app = write(tmp_path, "django")
    senders = Refusing()
    proofs = _proof.prove_all([app], "ops@contoso.com", run_cmd, senders=senders)
    assert senders.calls == [("smtp", "smtp.office365.com", 587, "alerts@contoso.com", "ops@contoso.com")]
    p = proofs[0]
    assert (p["kind"], p["accepted"], p["path"], p["diagnosis"]) == ("smtp_client", False, "basic",
                                                                     "basic_auth_retired")
    assert p["reply"].startswith("550 5.7.30 Basic authentication is not supported")
    assert "XOAUTH2" in p["message"]  # the catalogue's fix
    assert p["message_id"].startswith("<mailops-proof.") and p["user"] == USER
    assert PASSWORD not in json.dumps(proofs)


def test_check_mode_sends_nothing_and_says_what_would_be_sent(tmp_path):
    apps = [write(tmp_path, "django"), write(tmp_path, "msmtp", credential=OAUTH)]
    senders = Refusing()
    proofs = _proof.prove_all(apps, "ops@contoso.com", run_cmd, check_mode=True, senders=senders)
    assert senders.calls == []
    assert [p["accepted"] for p in proofs] == [None, None]
    assert "an SMTP client to smtp.office365.com:587 (starttls, login svc@contoso.com)" in proofs[0]["message"]
    assert "msmtp --account=mailops" in proofs[1]["message"]
    assert PASSWORD not in json.dumps(proofs)


def test_graph_client_is_not_available_until_its_module_is_there(tmp_path):
    app = write(tmp_path, "gitlab", credential=OAUTH)

    def missing():
        raise ImportError("no _graph_send")
    view = _proof.decide(app)
    out = _proof_send.graph_send(view, "ops@contoso.com", "s", "b", loader=missing)
    assert out["sent"] is False and "not available" in out["reply"]


def test_graph_client_calls_send_mail_with_the_files_settings(tmp_path):
    view = _proof.decide(write(tmp_path, "gitlab", credential=OAUTH))
    got = {}

    def send_mail(**kw):
        got.update(kw)
        return {"accepted": False, "status": 403, "reply": "403 ErrorAccessDenied " + CLIENT_SECRET,
                "diagnosis": "auth_failed"}
    out = _proof_send.graph_send(view, "ops@contoso.com", "s", "b", ca_path="/ca.pem", timeout=7,
                                 loader=lambda: send_mail, message_id="<mailops-proof.1@web1>")
    assert got["client_secret"] == CLIENT_SECRET and got["sender"] == USER and got["to"] == "ops@contoso.com"
    # The proof's own Message-ID goes to Graph (internetMessageId): the report names the message Microsoft keeps.
    assert got["message_id"] == "<mailops-proof.1@web1>"
    assert got["token_url"].endswith("/t-1/oauth2/v2.0/token") and got["timeout"] == 7
    assert (out["sent"], out["diagnosis"]) == (False, "auth_failed")
    assert CLIENT_SECRET not in json.dumps(out)


# ---- the relay's log ------------------------------------------------------------------------------------

MID = "<mailops-proof.abc123@web1>"
LOG = """\
Dec  7 12:00:01 web1 postfix/smtpd[10]: 4AbCdE1: client=localhost[127.0.0.1]
Dec  7 12:00:01 web1 postfix/cleanup[11]: 4AbCdE1: message-id=<mailops-proof.abc123@web1>
Dec  7 12:00:01 web1 postfix/qmgr[12]: 4AbCdE1: from=<a@contoso.com>, size=400, nrcpt=1 (queue active)
Dec  7 12:00:02 web1 postfix/cleanup[11]: 9ZzZ: message-id=<other@web1>
Dec  7 12:00:03 web1 postfix/pipe[13]: 4AbCdE1: to=<ops@contoso.com>, relay=mailops_xoauth2, delay=1.2, \
delays=0.1/0/0/1.1, dsn=2.0.0, status=sent (delivered via mailops_xoauth2 service)
Dec  7 12:00:03 web1 postfix/smtp[14]: 9ZzZ: to=<x@contoso.com>, relay=smtp.office365.com[198.18.0.5]:587, \
delay=1, delays=0/0/0.5/0.5, dsn=5.7.30, status=bounced (host smtp.office365.com[198.18.0.5] said: 550 5.7.30 \
Basic authentication is not supported for Client Submission (in reply to AUTH command))
"""


def test_the_log_finds_the_message_by_its_id_and_its_upstream():
    qid = _proof_log.queue_id_of(LOG, MID)
    assert qid == "4AbCdE1"
    d = _proof_log.delivery_of(LOG, qid)
    assert (d["status"], d["upstream"], d["reply"]) == ("sent", "xoauth2", "delivered via mailops_xoauth2 service")
    other = _proof_log.delivery_of(LOG, "9ZzZ")
    assert (other["status"], other["upstream"]) == ("bounced", "basic")
    assert _proof_log.queue_id_of(LOG, "<mailops-proof.abc12@web1>") is None  # no prefix match


def test_upstreams_from_the_relay_field():
    assert _proof_log.upstream_of("contoso-com.mail.protection.outlook.com[198.18.0.9]:25") == "connector"
    assert _proof_log.upstream_of("mailops_xoauth2") == "xoauth2"
    assert _proof_log.upstream_of("smtp.office365.com[198.18.0.5]:587") == "basic"


def test_a_via_relay_app_is_accepted_only_when_the_relays_log_says_sent(tmp_path):
    app = write(tmp_path, "grafana", options=LOOPBACK)
    log = tmp_path / "mail.log"
    log.write_text("old line\n")

    class RelayTakes(Refusing):
        def smtp_send(self, view, mail_from, to, message, **kw):
            mid = [l for l in message.split("\r\n") if l.startswith("Message-ID: ")][0][12:]
            with open(log, "a") as f:  # the relay logs as it takes and delivers the message
                f.write(LOG.replace(MID, mid))
            return _proof_send.result(True, "250 2.0.0 Ok: queued as 4AbCdE1", "data", None, "4AbCdE1")
    proofs = _proof.prove_all([app], "ops@contoso.com", run_cmd, relay_log=str(log), relay_wait=2,
                              senders=RelayTakes())
    p = proofs[0]
    assert (p["kind"], p["path"], p["accepted"], p["relay_upstream"], p["relay_queue_id"]) == (
        "smtp_client", "via_relay", True, "xoauth2", "4AbCdE1")
    assert p["reply"] == "delivered via mailops_xoauth2 service"


def test_a_relay_that_only_queued_is_not_an_acceptance(tmp_path):
    app = write(tmp_path, "django", options=LOOPBACK)
    log = tmp_path / "mail.log"
    log.write_text("")

    class Queued(Refusing):
        def smtp_send(self, *a, **kw):
            return _proof_send.result(True, "250 2.0.0 Ok: queued as 77QQ", "data", None, "77QQ")
    p = _proof.prove_all([app], "ops@contoso.com", run_cmd, relay_log=str(log), relay_wait=0, senders=Queued())[0]
    assert p["accepted"] is False and "names no delivery attempt of it" in p["message"]
    assert p["relay_queue_id"] == "77QQ"


def test_each_proof_records_the_seconds_it_waited_and_the_module_their_sum(tmp_path):
    # migrate subtracts these from its own time (issue 21, section 5): the server's answer and the relay's log.
    log = tmp_path / "mail.log"
    log.write_text("")
    apps = [write(tmp_path, "django", options=LOOPBACK), write(tmp_path, "grafana", options=LOOPBACK)]

    class SlowQueued(Refusing):
        def smtp_send(self, *a, **kw):
            time.sleep(0.3)  # the server's answer
            return _proof_send.result(True, "250 2.0.0 Ok: queued as 77QQ", "data", None, "77QQ")
    proofs = _proof.prove_all(apps, "ops@contoso.com", run_cmd, relay_log=str(log), relay_wait=1,
                              senders=SlowQueued())
    # Each waited for the answer (0.3 s) and then for the relay's log until relay_wait (1 s) ran out.
    assert all(1.3 <= p["waited_s"] < 10 for p in proofs), [p["waited_s"] for p in proofs]
    # One after the other: the second began once the first had waited.
    assert proofs[1]["started_at"] >= proofs[0]["started_at"] + proofs[0]["waited_s"] - 0.01
    assert _proof.waited(proofs) == round(proofs[0]["waited_s"] + proofs[1]["waited_s"], 3)
    assert _proof.waited([]) == 0.0


def test_a_deferral_upstream_is_a_refusal_with_its_diagnosis(tmp_path):
    app = write(tmp_path, "spring", options=LOOPBACK)
    log = tmp_path / "mail.log"
    log.write_text("")

    class Deferred(Refusing):
        def smtp_send(self, view, mail_from, to, message, **kw):
            log.write_text("x postfix/smtp[1]: 55AA: to=<ops@contoso.com>, relay=smtp.office365.com[1.2.3.4]:587, "
                           "delay=1, dsn=4.7.0, status=deferred (SASL authentication failed; server "
                           "smtp.office365.com said: 535 5.7.3 Authentication unsuccessful)\n")
            return _proof_send.result(True, "250 2.0.0 Ok: queued as 55AA", "data", None, "55AA")
    p = _proof.prove_all([app], "ops@contoso.com", run_cmd, relay_log=str(log), relay_wait=2, senders=Deferred())[0]
    assert (p["accepted"], p["diagnosis"], p["relay_upstream"]) == (False, "auth_failed", "basic")


def test_a_relay_that_is_not_there_is_the_relays_fault(tmp_path):
    app = write(tmp_path, "grafana", options={"mode": "via_relay", "relay_port": free_port()})
    p = _proof.prove_all([app], "ops@contoso.com", run_cmd, timeout=5, relay_log=str(tmp_path / "log"))[0]
    assert (p["accepted"], p["diagnosis"]) == (False, "relay_unreachable")
    assert "refused the connection" in p["message"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_designated_relay_elsewhere_awaits_its_log_and_lookup_reads_it_there(tmp_path):
    app = write(tmp_path, "django", options=REMOTE)

    class Taken(Refusing):
        def smtp_send(self, *a, **kw):
            return _proof_send.result(True, "250 2.0.0 Ok: queued as 4AbCdE1", "data", None, "4AbCdE1")
    p = _proof.prove_all([app], "ops@contoso.com", run_cmd, senders=Taken(), log_default=lambda run, d: None)[0]
    assert (p["accepted"], p["awaiting_relay_log"]) == (False, True)
    assert "relay1.example.com:587" in p["message"]
    log = tmp_path / "relay.log"
    log.write_text(LOG)
    found = _proof.lookup([{"name": "django", "message_id": MID, "accepted": False}], str(log), 1)
    assert (found[0]["kind"], found[0]["accepted"], found[0]["relay_upstream"]) == ("relay_log", True, "xoauth2")


def _taken_and_sent(qid, mid):
    return ("Dec  8 03:00:00 relay1 postfix/cleanup[1]: %s: message-id=%s\n"
            "Dec  8 03:00:01 relay1 postfix/smtp[2]: %s: to=<ops@contoso.com>, relay=mailops_xoauth2, delay=1, "
            "status=sent (250 2.0.0 OK <%s>)\n" % (qid, mid, qid, mid.strip("<>")))


class _PacedLog:
    """A relay log that names one more delivered message at each poll, while the clock moves on 10 s."""

    def __init__(self, path, mids):
        self.path, self.mids, self.now, self.polls = path, list(mids), 0.0, 0
        path.write_text("")

    def clock(self):
        return self.now

    def sleep(self, _seconds):
        self.now += 10
        if self.mids:
            mid = self.mids.pop(0)
            with self.path.open("a") as f:
                f.write(_taken_and_sent("Q%d" % self.polls, mid))
        self.polls += 1


def test_a_batchs_messages_are_waited_for_while_the_paced_relay_delivers_them(tmp_path):
    # Four messages, one every 10 s: 40 s in all, more than the 15 s without a delivery the watch allows.
    mids = ["<m%d@h>" % i for i in range(4)]
    log = _PacedLog(tmp_path / "relay.log", mids)
    seen = _proof_log.wait_for_deliveries(str(log.path), mids, 15, clock=log.clock, sleep=log.sleep)
    assert [seen[m][0]["status"] for m in mids] == ["sent"] * 4
    assert [seen[m][1] for m in mids] == [10.0, 20.0, 30.0, 40.0]


def test_a_watch_gives_up_once_nothing_was_delivered_for_its_wait(tmp_path):
    # The second message is never named: the third and fourth still arrive; the watch ends 15 s after the
    # last delivery, not 15 s after each message.
    log = _PacedLog(tmp_path / "relay.log", ["<m0@h>", "<m2@h>", "<m3@h>"])
    mids = ["<m0@h>", "<lost@h>", "<m2@h>", "<m3@h>"]
    seen = _proof_log.wait_for_deliveries(str(log.path), mids, 15, clock=log.clock, sleep=log.sleep)
    statuses = {m: seen[m][0]["status"] for m in mids}
    assert statuses == {"<m0@h>": "sent", "<lost@h>": "unseen", "<m2@h>": "sent", "<m3@h>": "sent"}
    assert seen["<lost@h>"][1] == 50.0


def test_a_lookup_decides_each_message_from_one_watch_of_the_log(tmp_path):
    log = tmp_path / "relay.log"
    log.write_text(_taken_and_sent("QA", "<a@h>"))
    found = _proof.lookup([{"name": "grafana", "message_id": "<a@h>"}, {"name": "django", "message_id": "<b@h>"}],
                          str(log), 0)
    decided = [(f["name"], f["kind"], f["accepted"]) for f in found]
    assert decided == [("grafana", "relay_log", True), ("django", "relay_log", False)]
    assert found[0]["relay_upstream"] == "xoauth2" and found[0]["relay_queue_id"] == "QA"
    assert "never named it within 0 s" in found[1]["message"]
    assert found[0]["started_at"] == found[1]["started_at"]


def test_the_log_index_agrees_with_the_one_message_readers():
    text = LOG + _taken_and_sent("QX", "<x@h>")
    taken, deliveries = _proof_log.index(text)
    for mid in (MID, "<x@h>"):
        qid = _proof_log.queue_id_of(text, mid)
        assert taken[mid.strip("<>")] == qid
        assert deliveries[qid] == _proof_log.delivery_of(text, qid)


def test_postfix_is_proven_by_sendmail_and_its_own_log(tmp_path):
    d = tmp_path / "postfix"
    d.mkdir()
    (d / "main.cf").write_text("default_transport = mailops_xoauth2:m365\nrelay_transport = mailops_xoauth2:m365\n"
                               "sender_canonical_maps = static:relay@contoso.com\n")
    log = tmp_path / "mail.log"
    log.write_text("")

    class Sendmail(Refusing):
        def sendmail_send(self, config_dir, mail_from, to, message, run, **kw):
            self.calls.append(("sendmail", config_dir, mail_from))
            mid = [l for l in message.split("\r\n") if l.startswith("Message-ID: ")][0][12:]
            log.write_text(LOG.replace(MID, mid))
            return _proof_send.result(True, "queued by sendmail", "app_command")
    senders = Sendmail()
    p = _proof.prove_all([{"preset": "postfix", "path": str(d)}], "ops@contoso.com", run_cmd, senders=senders,
                         log_default=lambda run, config_dir: str(log), relay_wait=2)[0]
    assert senders.calls == [("sendmail", str(d), "relay@contoso.com")]
    assert (p["kind"], p["path"], p["accepted"], p["relay_upstream"]) == ("app_command", "xoauth2", True, "xoauth2")


def test_postfix_through_a_designated_relay_is_not_accepted_on_its_own_hop(tmp_path):
    app = write(tmp_path, "postfix", options=REMOTE)
    log = tmp_path / "mail.log"
    log.write_text("")

    class Hop(Refusing):
        def sendmail_send(self, config_dir, mail_from, to, message, run, **kw):
            mid = [l for l in message.split("\r\n") if l.startswith("Message-ID: ")][0][12:]
            with open(log, "a") as f:  # Postfix appends to its log
                f.write("x postfix/cleanup[1]: 11AA: message-id=%s\nx postfix/smtp[2]: 11AA: to=<ops@contoso.com>, "
                        "relay=relay1.example.com[198.18.0.7]:587, delay=1, dsn=2.0.0, status=sent (250 2.0.0 Ok: "
                        "queued as 22BB)\n" % mid)
            return _proof_send.result(True, "queued by sendmail", "app_command")
    p = _proof.prove_all([app], "ops@contoso.com", run_cmd, senders=Hop(), relay_wait=2,
                         log_default=lambda run, d: str(log))[0]
    assert (p["path"], p["accepted"], p["awaiting_relay_log"], p["relay_queue_id"]) == (
        "via_relay", False, True, "22BB")
    relay = tmp_path / "relay.log"
    relay.write_text("y postfix/pipe[3]: 22BB: to=<ops@contoso.com>, relay=mailops_xoauth2, delay=1, dsn=2.0.0, "
                     "status=sent (delivered via mailops_xoauth2 service)\n")
    p = _proof.prove_all([app], "ops@contoso.com", run_cmd, senders=Hop(), relay_wait=2, relay_log=str(relay),
                         log_default=lambda run, d: str(log))[0]
    assert (p["accepted"], p["relay_upstream"], p["relay_queue_id"]) == (True, "xoauth2", "22BB")


# ---- the commands and their output --------------------------------------------------------------------

def test_msmtp_runs_on_the_apps_file_and_account_never_with_debug():
    argv = _proof_send.msmtp_argv("/etc/msmtprc", "mailops", "ops@contoso.com")
    assert argv == ["msmtp", "--file=/etc/msmtprc", "--account=mailops", "--logfile=-", "--", "ops@contoso.com"]
    assert not any(a.startswith(("-d", "--debug", "-v")) for a in argv)


def test_msmtp_replies_from_its_log_line():
    ok = ("Dec 07 12:00:00 host=smtp.office365.com tls=on auth=on user=svc@contoso.com from=svc@contoso.com "
          "recipients=ops@contoso.com mailsize=300 smtpstatus=250 smtpmsg='250 2.0.0 OK <x> [Hostname=a]' "
          "exitcode=EX_OK\n")
    assert _proof_send.msmtp_reply(0, ok, "") == ("250 2.0.0 OK <x> [Hostname=a]", None)
    bad_err = ("msmtp: authentication failed (method LOGIN)\nmsmtp: server message: 550 5.7.30 Basic "
               "authentication is not supported for Client Submission\nmsmtp: could not send mail\n")
    reply, code = _proof_send.msmtp_reply(77, "", bad_err)
    assert reply.startswith("550 5.7.30") and code == "basic_auth_retired"


def test_a_missing_command_is_a_failed_proof_not_a_crash():
    def absent(argv, stdin_text, timeout):
        return None, "", "cannot run %s: not found on this host" % argv[0]
    out = _proof_send.msmtp_send("/etc/msmtprc", "mailops", "ops@contoso.com", "x", absent)
    assert out["sent"] is False and "not found" in out["reply"]
    out = _proof_send.sendmail_send("/etc/postfix", "a@contoso.com", "ops@contoso.com", "x", absent)
    assert out["sent"] is False and "not found" in out["reply"]


def test_the_default_log_is_postfixs_maillog_file(tmp_path):
    seen = []

    def postconf(argv, stdin_text, timeout):
        seen.append(argv)
        return 0, "/var/log/postfix.log\n", ""
    assert _proof.default_relay_log(postconf, "/etc/postfix-out") == "/var/log/postfix.log"
    assert seen == [["postconf", "-h", "-c", "/etc/postfix-out", "maillog_file"]]


def test_sendmail_uses_the_apps_config_dir():
    assert _proof_send.sendmail_argv("/etc/postfix", "a@contoso.com", "b@contoso.com") == [
        "/usr/sbin/sendmail", "-i", "-f", "a@contoso.com", "--", "b@contoso.com"]
    assert _proof_send.sendmail_argv("/etc/postfix-out", "a@contoso.com", "b@contoso.com")[1:3] == [
        "-C", "/etc/postfix-out"]


# ---- a real SMTP session on loopback, against a server that echoes the password ------------------------

class EchoServer(threading.Thread):
    """Refuses AUTH LOGIN with 550 5.7.30 and the decoded password in the reply (a hostile server)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.lines = []

    def run(self):
        import base64
        conn = self.sock.accept()[0]
        f = conn.makefile("rwb")

        def say(text):
            f.write(text.encode() + b"\r\n")
            f.flush()
        say("220 stand-in ESMTP")
        step = None
        for raw in f:
            line = raw.decode().rstrip("\r\n")
            self.lines.append(line)
            if line.startswith("EHLO"):
                say("250-stand-in\r\n250 AUTH LOGIN XOAUTH2")
            elif line == "AUTH LOGIN":
                step = "user"
                say("334 VXNlcm5hbWU6")
            elif step == "user":
                step = "pass"
                say("334 UGFzc3dvcmQ6")
            elif step == "pass":
                say("550 5.7.30 Basic authentication is not supported for Client Submission (%s)"
                    % base64.b64decode(line).decode())
                step = None
            elif line == "QUIT":
                break
        conn.close()


def test_a_real_session_scrubs_a_password_the_server_echoes(tmp_path):
    server = EchoServer()
    server.start()
    # A file as a user may keep it by hand: plain SMTP to a server on loopback.
    f = tmp_path / "settings.py"
    f.write_text("EMAIL_HOST = '127.0.0.1'\nEMAIL_PORT = %d\nEMAIL_HOST_USER = %r\nEMAIL_HOST_PASSWORD = %r\n"
                 "EMAIL_USE_TLS = False\nDEFAULT_FROM_EMAIL = 'alerts@contoso.com'\n" % (server.port, USER, PASSWORD))
    app = {"preset": "django", "path": str(f)}
    proofs = _proof.prove_all([app], "ops@contoso.com", run_cmd, timeout=5)
    server.join(5)
    p = proofs[0]
    assert (p["accepted"], p["diagnosis"], p["tls"]) == (False, "basic_auth_retired", "none")
    assert p["reply"].startswith("550 5.7.30") and "********" in p["reply"]
    assert PASSWORD not in json.dumps(proofs)
    assert "AUTH LOGIN" in server.lines


def test_the_module_declares_its_options_as_documented():
    import yaml
    doc = yaml.safe_load(send_proof.DOCUMENTATION)
    assert set(doc["options"]) == set(send_proof.argument_spec())
    assert doc["version_added"] == "0.1.0"
    yaml.safe_load(send_proof.EXAMPLES)
    assert "proofs" in yaml.safe_load(send_proof.RETURN)


def test_the_files_are_read_not_written(tmp_path):
    app = write(tmp_path, "grafana")
    before = Path(app["path"]).read_bytes()
    _proof.prove_all([app], "ops@contoso.com", run_cmd, check_mode=True)
    assert Path(app["path"]).read_bytes() == before


# ---- the sender of a proof ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mail_from, view, default_from, sender", [
    # Given for every app: first, whatever the file says.
    ("ops@contoso.com", {"from_address": "alerts@contoso.com", "user": USER}, "box@contoso.com", "ops@contoso.com"),
    # The file's own from address, then its login, before the default.
    (None, {"from_address": "alerts@contoso.com", "user": USER}, "box@contoso.com", "alerts@contoso.com"),
    ("", {"from_address": None, "user": USER}, "box@contoso.com", USER),
    # A file that names no sender (a relay without a login): the default, else none.
    (None, {"from_address": None, "user": None}, "box@contoso.com", "box@contoso.com"),
    (None, {"from_address": "", "user": None}, None, None),
])
def test_the_proof_sender_is_the_given_one_then_the_files_then_the_default(mail_from, view, default_from, sender):
    assert _proof.proof_sender(mail_from, view, default_from) == sender


def test_spring_through_a_relay_names_no_sender_and_is_proven_as_the_default_sender(tmp_path):
    # Spring's via_relay file without a from address: no login, no sender of its own.
    app = write(tmp_path, "spring", credential=OAUTH, options=LOOPBACK,
                smtp={"host": "smtp.office365.com", "port": 587})
    assert _proof.decide(app)["from_address"] is None and _proof.decide(app)["user"] is None
    senders = Refusing()
    refused = _proof.prove_all([app], "ops@contoso.com", run_cmd, senders=senders)[0]
    assert senders.calls == [] and refused["accepted"] is False
    assert refused["message"] == "spring: the file names no sender; give mail_from or default_from"
    proof = _proof.prove_all([app], "ops@contoso.com", run_cmd, senders=senders, default_from="box@contoso.com",
                             relay_log=str(tmp_path / "absent.log"), relay_wait=0)[0]
    assert senders.calls == [("smtp", "127.0.0.1", 25, "box@contoso.com", "ops@contoso.com")], proof
    # An explicit sender for every app still comes first.
    senders.calls.clear()
    _proof.prove_all([app], "ops@contoso.com", run_cmd, mail_from="ops@contoso.com", senders=senders,
                     default_from="box@contoso.com", relay_log=str(tmp_path / "absent.log"), relay_wait=0)
    assert [c[3] for c in senders.calls] == ["ops@contoso.com"]


def test_a_default_sender_that_is_no_address_is_refused(tmp_path):
    app = write(tmp_path, "spring", credential=OAUTH, options=LOOPBACK,
                smtp={"host": "smtp.office365.com", "port": 587})
    with pytest.raises(_proof.ProofInputError, match="default_from"):
        _proof.prove_all([app], "ops@contoso.com", run_cmd, default_from="box@contoso.com\r\nRCPT TO:<x@y>")
