# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.send_proof on one lab host (issue 21, section 2.3: proof means the server accepted).

host1 is set up the way migrate leaves a host: its Postfix is an smtp_relay relay on the loopback,
upstream xoauth2 (the oauth2 credential from the lab's OpenBao); one smtp_configure run writes msmtp
with XOAUTH2 (its refresher's token) and Grafana and Django in via_relay mode; a second run leaves
Laravel on a mailbox password, and that mailbox's basic auth is then switched off at the Microsoft 365
stand-in. One send_proof run proves the five apps; the stand-in's record of each message (found by the
proof's own Message-ID) shows the path it came through:

- msmtp: app_command; straight to the stand-in, XOAUTH2 as the mailbox with the lab app's token;
- postfix (the relay itself): app_command (sendmail), accepted by the relay's log; the stand-in saw the
  relay's XOAUTH2 login, and the message carries Postfix's queue id;
- grafana, django: smtp_client to 127.0.0.1:25 without TLS or login; the relay's log records the
  upstream's acceptance (relay_upstream xoauth2), the message's Received header is the relay's;
- laravel: refused, accepted false, diagnosis basic_auth_retired with Microsoft's 550 5.7.30, and
  nothing reached the stand-in.

A --check run first sends nothing and changes no file.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml

from tests.integration.apps_send.test_apps_send import RECEIVED_BY_RELAY
from tests.integration.configure.conftest import Configure, sha256s
from tests.integration.presets.conftest import failures, host_sh
# Fixtures: host1's Postfix as the lab made it, before and after the module; the relay playbook.
from tests.integration.relay.conftest import pristine_relay_host, relay_runner  # noqa: F401 pylint: disable=unused-import
from tests.integration.relay.conftest import RELAY

HOST = RELAY
ROOT = "/srv/mailops-send-proof"
DOMAIN = "contoso.com"
PASSWORD = "Lv-pw'%s\"#" % uuid.uuid4().hex[:6]
FILES = {"msmtp": ROOT + "/msmtprc", "grafana": ROOT + "/grafana/grafana.ini",
         "django": ROOT + "/django/mail_settings.py", "laravel": ROOT + "/laravel/.env"}
# msmtp's refresher keeps its credential in a directory of its own: smtp_configure makes its directory
# 0700, and in the default one (/etc/mailops-smtp, shared with the relay) that locks the relay's msmtp,
# which runs as mailops-relay, out of relay-msmtprc ("Permission denied", every message deferred).
REFRESHER_DIR = "/etc/mailops-smtp-apps"
CLEAN = "rm -rf %s %s /etc/cron.d/mailops-smtp-token-mailops /var/lib/mailops-smtp/mailops.token*" % (
    ROOT, REFRESHER_DIR)
PLAYBOOK = """
- name: Prove each application
  hosts: all
  gather_facts: false
  tasks:
    - name: send_proof
      mailops.smtp.send_proof:
        apps: "{{ proof_apps }}"
        to: "{{ proof_to }}"
        ca_path: "{{ proof_ca }}"
        timeout: 20
        relay_wait: 60
"""


class ProofRun(Configure):
    """ansible-playbook of the playbook above, -v so that the module's result is in the output."""

    def __init__(self, lab, scratch):
        super().__init__(lab, scratch)
        self.playbook = scratch / "send_proof.yml"
        self.playbook.write_text(PLAYBOOK)

    def argv(self, hosts, role_vars, *extra):
        return [str(self.playbook), "-l", hosts, "-v", "-e", f"@{self._vars_file(role_vars)}", *extra]


def proof_apps() -> list[dict]:
    return [
        {"name": "msmtp", "preset": "msmtp", "path": FILES["msmtp"]},
        {"name": "postfix", "preset": "postfix"},
        {"name": "grafana", "preset": "grafana", "path": FILES["grafana"], "options": {"mode": "via_relay"}},
        {"name": "django", "preset": "django", "path": FILES["django"], "options": {"mode": "via_relay"}},
        {"name": "laravel", "preset": "laravel", "path": FILES["laravel"]},
    ]


@pytest.fixture(scope="module")
def host(lab, standins, pristine_relay_host, relay_runner, tmp_path_factory):
    """host1: the xoauth2 relay on the loopback, msmtp on XOAUTH2, Grafana and Django via the relay, Laravel
    on a password whose basic auth the stand-in has retired."""
    host_sh(lab, HOST, CLEAN)
    for path in FILES.values():
        host_sh(lab, HOST, 'mkdir -p "$(dirname "$1")"', path)
    host_sh(lab, HOST, 'printf "APP_NAME=Laravel\\n" > "$1"', FILES["laravel"])
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    relay = relay_runner.run(HOST, {"smtp_relay_upstream": "xoauth2", "smtp_relay_ca_path": lab.ca,
                                    "smtp_relay_recipient_domains": [DOMAIN], "smtp_relay_install_packages": False,
                                    "smtp_relay_vault": lab_vars["mailops_smtp_vault_oauth"]})
    assert relay.rc == 0, failures(relay)
    configure = Configure(lab, tmp_path_factory.mktemp("send-proof"))
    app = standins.app
    oauth = {"type": "oauth2", "username": standins.mailbox, "tenant_id": app.tenant_id,
             "client_id": app.client_id, "client_secret": app.secret}
    apps = proof_apps()
    run = configure.run(HOST, {
        "smtp_configure_ca_path": lab.ca, "smtp_configure_credential": oauth,
        "smtp_configure_refresher_config_dir": REFRESHER_DIR,
        "smtp_configure_from_address": standins.mailbox,
        "smtp_configure_apps": [apps[0]] + [dict(a, smtp={"ca_path": None}) for a in apps[2:4]]})
    assert run.rc == 0, failures(run)
    box = "send-proof-%s@contoso.com" % uuid.uuid4().hex[:8]
    standins.control.set_mailbox(box, passwords=[PASSWORD])
    run = configure.run(HOST, {
        "smtp_configure_ca_path": lab.ca, "smtp_configure_from_address": box,
        "smtp_configure_credential": {"type": "basic", "username": box, "password": PASSWORD},
        "smtp_configure_apps": [dict(apps[4], smtp={"ca_path": None})]})
    assert run.rc == 0, failures(run)
    assert PASSWORD not in run.output
    standins.control.set_mailbox(box, basic_auth_retired=True)
    try:
        yield {"box": box, "runner": ProofRun(lab, tmp_path_factory.mktemp("send-proof-run"))}
    finally:
        host_sh(lab, HOST, CLEAN)


def prove(lab, host, *extra):
    to = "proof-%s@%s" % (uuid.uuid4().hex[:10], DOMAIN)
    run = host["runner"].run(HOST, {"proof_apps": proof_apps(), "proof_to": to, "proof_ca": lab.ca}, *extra)
    assert run.rc == 0, failures(run)
    return to, run, {p["name"]: p for p in run.result("send_proof", HOST)["proofs"]}


def by_message_id(standins, message_id: str) -> list[dict]:
    return [m for m in standins.control.messages()
            if any(k.lower() == "message-id" and v.strip() == message_id for k, v in m["headers"])]


def received(m: dict) -> list[str]:
    return [v for k, v in m["headers"] if k.lower() == "received"]


def test_check_mode_sends_nothing_and_changes_no_file(lab, standins, host):
    before_files = sha256s(lab, HOST, list(FILES.values()))
    before = len(standins.control.messages())
    _to, _run, proofs = prove(lab, host, "--check")
    assert sorted(proofs) == sorted(a["name"] for a in proof_apps())
    assert all(p["accepted"] is None for p in proofs.values()), proofs
    assert proofs["grafana"]["message"].startswith("would send one message")
    assert len(standins.control.messages()) == before
    assert sha256s(lab, HOST, list(FILES.values())) == before_files


@pytest.fixture(scope="module")
def proven(lab, standins, host):
    to, run, proofs = prove(lab, host)
    return {"to": to, "run": run, "proofs": proofs}


def test_no_secret_in_the_results(lab, standins, proven):
    out = proven["run"].output
    # Booleans, so that a failure does not print a secret either.
    token = lab.host_run(HOST, ["cat", "/var/lib/mailops-smtp/mailops.token"]).stdout.strip()
    leaks = {"laravel's password": PASSWORD in out, "the app's client secret": standins.app.secret in out,
             "msmtp's token": not token or token in out}
    assert not any(leaks.values()), leaks


@pytest.mark.parametrize("name,kind,path", [("msmtp", "app_command", "xoauth2"),
                                            ("postfix", "app_command", "xoauth2"),
                                            ("grafana", "smtp_client", "via_relay"),
                                            ("django", "smtp_client", "via_relay")])
def test_each_app_is_proven_and_the_stand_in_got_that_very_message_with_xoauth2(
        lab, standins, proven, name, kind, path):
    p = proven["proofs"][name]
    assert (p["kind"], p["path"], p["accepted"], p["diagnosis"]) == (kind, path, True, None), json.dumps(p)
    got = by_message_id(standins, p["message_id"])
    assert len(got) == 1, "%d messages with %s at the stand-in" % (len(got), p["message_id"])
    m = got[0]
    assert (m["auth_mechanism"], m["auth_identity"], m["auth_app"]) == (
        "XOAUTH2", standins.mailbox, standins.app.client_id.lower())
    assert m["listener"] == "smtp:587" and m["rcpt_tos"] == [proven["to"]]
    assert m["peer"][0] == lab.host(HOST)["ip"]
    if name == "msmtp":
        # msmtp itself logged in: no relay on the way, and its reply is the stand-in's 250 after DATA.
        assert received(m) == [] and p["reply"].startswith("250"), (received(m), p)
        return
    # Through host1's relay: the proof found the relay's delivery of that queue id in its log.
    assert p["relay_upstream"] == "xoauth2" and p["relay_queue_id"], p
    assert p["reply"] == "delivered via mailops_xoauth2 service", p
    first = received(m)[0]
    assert re.search(r"\sid %s\b" % re.escape(p["relay_queue_id"]), first), first  # folded: "\r\n\tid X"
    if path == "via_relay":
        # The app's hop: from 127.0.0.1, without TLS or login (Postfix's ESMTP with no S or A).
        assert RECEIVED_BY_RELAY.match(first), first


def test_an_app_still_on_a_password_is_refused_with_the_retirement_diagnosis(standins, host, proven):
    p = proven["proofs"]["laravel"]
    assert (p["kind"], p["path"], p["accepted"], p["diagnosis"]) == (
        "smtp_client", "basic", False, "basic_auth_retired"), p
    assert p["reply"].startswith("550 5.7.30 Basic authentication is not supported"), p
    assert (p["host"], p["port"], p["tls"], p["user"]) == ("smtp.office365.com", 587, "starttls", host["box"])
    assert by_message_id(standins, p["message_id"]) == []
