# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""STARTTLS on a designated relay, trusted through the system store the configure role fills (issue 20 §2).

Two hosts: host1 is a designated relay (connector upstream) with a certificate the lab CA issued for its lab
address (smtp_relay_tls_cert/key); host2 runs Laravel in via_relay mode, pointing at that address.
Laravel's mail library (Symfony Mailer, tests/lab/senders/laravel_send.php) verifies the relay
against the system trust store only, and Java's store is not used here: the role's trust-store
update runs with its hooks off on the lab (tests/lab/trust.py says why), so no Spring sender.

In file order, on one relay set-up and one app host:
1. the relay offers STARTTLS on its address (verified against the lab CA) and never on the loopback;
2. without the CA in host2's store, Laravel's send fails on the certificate; Django 3.2 (Debian 12)
   sends anyway: it does not verify (docs/relay.md);
3. smtp_configure_system_ca_certs puts the lab CA in (check mode first), the same send goes through
   the relay over TLS to the stand-in, a second run changes nothing, and state absent takes it out.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.integration.configure.conftest import Configure, wait_for_message
from tests.integration.relay.conftest import CLIENT, RELAY, wait_log
from tests.lab.pki_bad import load_ca
from tests.lab.senders import HOST_PYTHON, HERE as SENDERS
from tests.lab.trust import untrust

ROOT = "/srv/mailops-relay-tls"
LARAVEL_ENV = ROOT + "/laravel/.env"
DJANGO_SETTINGS = ROOT + "/django/portal/mail_settings.py"
CERT, KEY = "/etc/ssl/mailops-relay/relay.pem", "/etc/ssl/private/mailops-relay.key"
CA_NAME = "mailops-relay-tls-test-ca"
CA_FILE = "/usr/local/share/ca-certificates/%s.crt" % CA_NAME
CA_LINK = "/etc/ssl/certs/%s.pem" % CA_NAME
# Debian's hooks would run the machine's pending dpkg triggers (tests/lab/trust.py): none here.
NO_HOOKS = ["update-ca-certificates", "--hooksdir", "/nonexistent/mailops-lab-no-hooks"]
# An EHLO from `host` to an address; with a CA, STARTTLS verified against it (server name = the address);
# with a recipient, the reply to RCPT TO.
EHLO = r"""
import json, smtplib, ssl, sys
addr, ca, rcpt = sys.argv[1:4]
s = smtplib.SMTP(addr, 25, timeout=20)
s.ehlo("probe.lab.test")
out = {"starttls_offered": s.has_extn("starttls")}
if ca and out["starttls_offered"]:
    ctx = ssl.create_default_context(cafile=ca)
    s.starttls(context=ctx)
    out["tls"] = s.sock.version()
    out["peer_names"] = s.sock.getpeercert().get("subjectAltName")
if rcpt:
    s.ehlo("probe.lab.test")
    s.mail("probe@lab.test")
    out["rcpt"] = s.rcpt(rcpt)[0]
s.quit()
print(json.dumps(out))
"""


def ehlo(lab, host: str, addr: str, ca: str = "", rcpt: str = "") -> dict:
    p = lab.host_run(host, [lab.host(host)["python"], "-c", EHLO, addr, ca, rcpt])
    return json.loads(p.stdout)


def apps(lab) -> list[dict]:
    via = {"mode": "via_relay", "relay_host": lab.host(RELAY)["ip"], "relay_port": 25}
    # Both read only the system store: no smtp.ca_path (the preset refuses one).
    return [{"preset": "laravel", "path": LARAVEL_ENV, "options": via, "smtp": {"ca_path": None}},
            {"preset": "django", "path": DJANGO_SETTINGS, "options": via, "smtp": {"ca_path": None}}]


def tenant(lab) -> str:
    return lab.state["tenant_domain"]


def send(lab, app: str, subject: str):
    """Send with the application's own library on host2, from the file the role wrote."""
    to = "relay-tls@%s" % tenant(lab)
    if app == "laravel":
        argv = ["php", str(SENDERS / "laravel_send.php"), LARAVEL_ENV, to, subject]
    else:
        argv = [HOST_PYTHON, "-B", str(SENDERS / "django_send.py"), DJANGO_SETTINGS, to, subject]
    return lab.host_run(CLIENT, argv, check=False, timeout=120)


@pytest.fixture(scope="module")
def tls_relay(lab, standins, pristine_relay_host, relay_runner, tmp_path_factory):
    """host1 as a designated relay with a lab-CA certificate for its address; host2 without the lab CA."""
    ca = load_ca(Path(lab.state["pki"]["ca"]), Path(lab.state["pki"]["ca_key"]), tmp_path_factory.mktemp("pki"))
    leaf = ca.issue("relay-host1", [lab.host(RELAY)["ip"]])
    lab.host_run(RELAY, ["sh", "-c", 'install -D -m 0644 "$1" "$3" && install -D -m 0600 "$2" "$4"', "sh",
                         str(leaf.cert), str(leaf.key), CERT, KEY])
    untrust(lab, CLIENT)
    lab.host_run(CLIENT, ["sh", "-c", f'rm -rf {ROOT} {CA_FILE} && mkdir -p {ROOT}/laravel {ROOT}/django/portal '
                                      f'&& printf "APP_NAME=Laravel\\n" > {LARAVEL_ENV}'])
    # The connector upstream: the quickest to set up (no Vault, no token refresher); TLS is the listener's.
    client = lab.state["pki"]["client"]
    role_vars = {
        "smtp_relay_upstream": "connector", "smtp_relay_tenant": tenant(lab), "smtp_relay_ca_path": lab.ca,
        "smtp_relay_client_cert": client["cert"], "smtp_relay_client_key": client["key"],
        "smtp_relay_from_address": standins.mailbox, "smtp_relay_recipient_domains": [tenant(lab)],
        "smtp_relay_listen": [lab.host(RELAY)["ip"]], "smtp_relay_allowed_networks": [lab.host(CLIENT)["ip"] + "/32"],
        "smtp_relay_tls_cert": CERT, "smtp_relay_tls_key": KEY,
    }
    run = relay_runner.run(RELAY, role_vars)
    try:
        yield {"run": run, "vars": role_vars, "configure": Configure(lab, tmp_path_factory.mktemp("configure"))}
    finally:
        lab.host_run(CLIENT, ["sh", "-c", f"rm -rf {ROOT} {CA_FILE}; " + " ".join(NO_HOOKS) + " >/dev/null"],
                     check=False)
        lab.host_run(RELAY, ["rm", "-rf", CERT, KEY, str(Path(CERT).parent)], check=False)


def configure_vars(standins, ca_certs=None) -> dict:
    out = {"smtp_configure_from_address": standins.mailbox, "smtp_configure_system_ca_update_command": NO_HOOKS}
    if ca_certs is not None:
        out["smtp_configure_system_ca_certs"] = ca_certs
    return out


def test_starttls_on_the_relays_address_never_on_its_loopback(lab, tls_relay):
    assert tls_relay["run"].rc == 0, tls_relay["run"].output[-3000:]
    conf = lab.host_run(RELAY, ["postconf", "-h", "smtpd_tls_security_level", "smtpd_tls_chain_files"]).stdout
    assert conf.splitlines() == ["may", f"{KEY}, {CERT}"]
    remote = ehlo(lab, CLIENT, lab.host(RELAY)["ip"], lab.ca)
    assert remote["starttls_offered"] and remote["tls"] in ("TLSv1.2", "TLSv1.3"), remote
    assert remote["peer_names"] == [["IP Address", lab.host(RELAY)["ip"]]]
    # The same Postfix, from an application on the relay host: Symfony Mailer would upgrade if offered.
    assert ehlo(lab, RELAY, "127.0.0.1") == {"starttls_offered": False}


def test_without_the_ca_in_the_system_store_the_send_fails_on_the_certificate(lab, standins, tls_relay):
    run = tls_relay["configure"].run(CLIENT, dict(configure_vars(standins), smtp_configure_apps=apps(lab)))
    assert run.rc == 0, run.output[-3000:]
    env = lab.host_run(CLIENT, ["cat", LARAVEL_ENV]).stdout.splitlines()
    assert f'MAIL_HOST="{lab.host(RELAY)["ip"]}"' in env and 'MAIL_ENCRYPTION="tls"' in env, env
    p = send(lab, "laravel", "relay tls no ca %s" % uuid.uuid4().hex)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "certificate verify failed" in p.stdout + p.stderr, p.stdout + p.stderr
    # Debian 12's Django 3.2 calls starttls() without a context: Python then verifies nothing.
    subject = "relay tls django unverified %s" % uuid.uuid4().hex
    p = send(lab, "django", subject)
    assert p.returncode == 0, p.stdout + p.stderr
    wait_for_message(standins, subject)


def test_the_role_puts_the_ca_into_the_system_store_and_the_send_goes_through(lab, standins, tls_relay):
    configure = tls_relay["configure"]
    with open(lab.ca) as fh:
        ca_item = {"name": CA_NAME, "content": fh.read()}
    role_vars = dict(configure_vars(standins, [ca_item]), smtp_configure_apps=apps(lab))
    check = configure.run(CLIENT, role_vars, "--check", "--diff")
    assert check.rc == 0, check.output[-3000:]
    assert "+-----BEGIN CERTIFICATE-----" in check.stdout
    assert lab.host_run(CLIENT, ["test", "-e", CA_FILE], check=False).returncode == 1  # check mode wrote nothing

    run = configure.run(CLIENT, role_vars)
    assert run.rc == 0, run.output[-3000:]
    assert "RUNNING HANDLER [mailops.smtp.smtp_configure : Rebuild the system trust store" in run.stdout
    assert lab.host_run(CLIENT, ["test", "-L", CA_LINK], check=False).returncode == 0  # in /etc/ssl/certs now

    subject = "relay tls laravel %s" % uuid.uuid4().hex
    p = send(lab, "laravel", subject)
    assert p.returncode == 0, p.stdout + p.stderr
    m = wait_for_message(standins, subject)
    assert m["peer"][0] == lab.host(RELAY)["ip"] and m["listener"].startswith("connector"), m
    # host2 reached the relay over TLS (smtpd_tls_loglevel 1 logs each session).
    wait_log(lab, r"TLS connection established from \S+\[%s\]" % lab.host(CLIENT)["ip"].replace(".", r"\."))

    again = configure.run(CLIENT, role_vars)
    assert again.rc == 0 and again.stats(CLIENT)["changed"] == 0, again.changed_tasks()

    gone = configure.run(CLIENT, dict(role_vars, smtp_configure_system_ca_certs=[{"name": CA_NAME,
                                                                                  "state": "absent"}]))
    assert gone.rc == 0, gone.output[-3000:]
    assert lab.host_run(CLIENT, ["test", "-e", CA_LINK], check=False).returncode == 1
    p = send(lab, "laravel", "relay tls ca removed %s" % uuid.uuid4().hex)
    assert p.returncode == 1 and "certificate verify failed" in p.stdout + p.stderr, p.stdout + p.stderr


def test_level_encrypt_refuses_plaintext_from_the_network_and_never_asks_the_loopback(lab, tls_relay, relay_runner):
    run = relay_runner.run(RELAY, dict(tls_relay["vars"], smtp_relay_tls_level="encrypt"))
    assert run.rc == 0, run.output[-3000:]
    to, relay_ip = "relay-tls@%s" % tenant(lab), lab.host(RELAY)["ip"]
    plain = ehlo(lab, CLIENT, relay_ip, rcpt=to)
    assert plain["starttls_offered"] and plain["rcpt"] == 450, plain  # 450 4.7.1 Session encryption is required
    assert ehlo(lab, CLIENT, relay_ip, lab.ca, rcpt=to)["rcpt"] == 250
    assert ehlo(lab, RELAY, "127.0.0.1", rcpt=to) == {"starttls_offered": False, "rcpt": 250}
