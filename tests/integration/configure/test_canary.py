# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""One login proves the credential for the whole fleet (issue 18).

Three hosts, each with something to write, and a mailbox of the test's own at the Microsoft 365
stand-in, whose counters say how many logins each run made. A refused credential costs that
mailbox exactly one failed login, whatever the number of hosts; the message quotes the server's
reply; no host writes. An oauth2 credential is proven by a token request and an XOAUTH2 login.
"""

from __future__ import annotations

import uuid

import pytest

from .conftest import sha256s

HOSTS = ["host1", "host2", "host3"]
FILE = "/root/mailops-canary.env"
KEYS = {"host": "SMTP_HOST", "username": "SMTP_USER", "password": "SMTP_PASSWORD"}
RCPT_KEYS = {"host": "SMTP_HOST", "username": "SMTP_USER"}


@pytest.fixture
def canary_hosts(lab):
    def clean():
        for h in HOSTS:
            lab.host_run(h, ["rm", "-f", FILE])
    clean()
    yield HOSTS
    clean()


def new_mailbox(standins, **changes) -> str:
    box = "canary-%s@contoso.com" % uuid.uuid4().hex[:8]
    standins.control.set_mailbox(box, **changes)
    return box


def run_fleet(configure, lab, credential, keys=None, **extra):
    role_vars = {"smtp_configure_ca_path": lab.ca, "smtp_configure_credential": credential,
                 "smtp_configure_apps": [{"format": "env", "path": FILE, "keys": keys or KEYS}], **extra}
    return configure.run(",".join(HOSTS), role_vars, "-f", str(len(HOSTS)))


def task_states(run, name: str) -> set:
    """How the task whose name contains `name` ended on each host: ok, changed, skipping, fatal."""
    states, inside = set(), False
    for line in run.stdout.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            inside = name in line
        elif inside and line.split(":", 1)[0] in ("ok", "changed", "skipping", "fatal"):
            states.add(line.split(":", 1)[0])
    return states


def untouched(lab):
    return all(sha256s(lab, h, [FILE])[FILE] is None for h in HOSTS)


def test_a_refused_password_costs_one_login_and_stops_every_host(lab, standins, configure, canary_hosts):
    box = new_mailbox(standins, passwords=["the-right-one-%s" % uuid.uuid4().hex])
    wrong = "Wrong-%s" % uuid.uuid4().hex
    run = run_fleet(configure, lab, {"type": "basic", "username": box, "password": wrong})
    assert run.rc != 0
    c = standins.control.mailbox_counters(box)
    assert c.get("auth_fail") == 1 and c.get("auth_ok", 0) == 0, c
    for h in HOSTS:
        assert run.stats(h)["failed"] == 1, h
    assert untouched(lab)
    assert "so no file was written on any host" in run.output
    # The stand-in's own reply, with the part only this server adds (its "[host time id]" tail),
    # not the catalogue's canned text.
    assert "answered AUTH LOGIN with '535 5.7.3 Authentication unsuccessful [" in run.output
    assert wrong not in run.output


def test_a_proven_credential_makes_no_canary_login(lab, standins, configure, canary_hosts):
    password = "right-%s" % uuid.uuid4().hex
    box = new_mailbox(standins, passwords=[password])
    cred = {"type": "basic", "username": box, "password": password}
    # Without preflight no host logs in at all, not even a canary.
    run = run_fleet(configure, lab, cred, smtp_configure_preflight=False)
    assert run.rc == 0, run.output[-3000:]
    assert standins.control.mailbox_counters(box).get("auth_ok", 0) == 0
    for h in HOSTS:
        lab.host_run(h, ["rm", "-f", FILE])
    # A caller that proved it: every host with something to write logs in once, no canary on top.
    run = run_fleet(configure, lab, cred, smtp_configure_credential_proven=True)
    assert run.rc == 0, run.output[-3000:]
    assert task_states(run, "Log in from the canary host") == {"skipping"}
    assert standins.control.mailbox_counters(box).get("auth_ok") == len(HOSTS)


def test_oauth2_is_proven_by_a_token_and_one_xoauth2_login(lab, standins, configure, canary_hosts):
    box = new_mailbox(standins, passwords=[])
    client_id = str(uuid.uuid4())
    secret = "app-secret-%s" % uuid.uuid4().hex
    tenant = standins.app.tenant_id
    # The app exists and gets tokens, but has no permission on the mailbox: the login is refused.
    standins.control.set_app(client_id, tenant=tenant, secrets=[secret], mailboxes=[])
    cred = {"type": "oauth2", "username": box, "tenant_id": tenant, "client_id": client_id, "client_secret": secret}
    run = run_fleet(configure, lab, cred, keys=RCPT_KEYS)
    assert run.rc != 0
    c = standins.control.mailbox_counters(box)
    assert c.get("auth_fail") == 1 and c.get("auth_ok", 0) == 0, c
    assert len(standins.control.issued_tokens(client_id)) == 1
    assert "answered AUTH XOAUTH2 with '535 5.7.3 Authentication unsuccessful [" in run.output
    assert untouched(lab)
    assert secret not in run.output

    # Allowed on the mailbox: the canary, then the two other hosts, log in with XOAUTH2, once each.
    standins.control.set_app(client_id, tenant=tenant, secrets=[secret], mailboxes=[box])
    run = run_fleet(configure, lab, cred, keys=RCPT_KEYS)
    assert run.rc == 0, run.output[-3000:]
    c = standins.control.mailbox_counters(box)
    assert c.get("auth_ok") == len(HOSTS) and c.get("auth_fail") == 1, c
    assert not untouched(lab)

    # The same run again has nothing to write: no host logs in, no token is requested.
    tokens = len(standins.control.issued_tokens(client_id))
    run = run_fleet(configure, lab, cred, keys=RCPT_KEYS)
    assert run.rc == 0, run.output[-3000:]
    assert standins.control.mailbox_counters(box).get("auth_ok") == len(HOSTS)
    assert len(standins.control.issued_tokens(client_id)) == tokens
    for h in HOSTS:
        assert run.stats(h)["changed"] == 0, run.changed_tasks()
