# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A burst through two designated relays that share one mailbox (issue 20, section 4).

Every host of the lab sends 20 messages at once, half of the hosts to each relay. The relays
(host1 and host2, smtp_relay role, xoauth2 upstream, listening on their lab address, the lab's
subnet allowed, smtp_relay_mailbox_relays: 2) share one mailbox, whose limits the stand-in
enforces: 3 connections sending at once (a 4th gets 432 4.3.2) and 30 messages a minute, the
excess accepted and recorded as delayed. Every message arrives exactly once, the relays never
cause a 432 nor a delay, and their queues drain by themselves.

Time: 200 messages at 30 a minute take 400 s. The stand-in's minute lasts MINUTE seconds
(set_clock) and the relays are told so (smtp_relay_mailbox_minute_seconds): each relay sends one
message a second (Postfix's rate delay counts whole seconds), 2 a second for the mailbox, which is
exactly 30 per scaled minute. The burst drains in about 100 s.

The relays run on two of the senders: a lab of 10 hosts, as the integration suite has, is enough.
Run with a third relay on the same budget (3 relays, smtp_relay_mailbox_relays: 2), the stand-in
recorded 87 of the 200 messages as delayed: the test sees a budget that does not hold.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
import yaml

from tests.integration.relay.conftest import (DOMAIN, pristine_snapshots, queued_recipients, relay_log,
                                              restore_host)
from tests.lab.sysutil import in_host

RELAYS = ("host1", "host2")
MESSAGES_PER_HOST = 20
SESSIONS_PER_HOST = 5     # each host's 20 messages go over 5 SMTP sessions at once
MINUTE = 15               # the stand-in's scaled minute: 4 times Microsoft's pace
PER_MINUTE = 30
# At the budget the burst takes 10 * 20 / 30 scaled minutes; the bound leaves room for a loaded machine.
DRAIN_TIMEOUT = 240

# One host's burst, run with its own Python: SESSIONS sessions at once, each sending its share of
# the messages; prints [[message id, reply code or error], ...] as JSON.
SENDER_CODE = r"""
import json, smtplib, sys, threading
relay, sender, rcpt, tag, host, count, sessions = sys.argv[1:8]
count, sessions = int(count), int(sessions)
out, lock = [], threading.Lock()

def session(k):
    ids = ["<burst-%s-%s-%d@lab.test>" % (tag, host, i) for i in range(k, count, sessions)]
    try:
        s = smtplib.SMTP(relay, 25, timeout=60)
        s.ehlo(host + ".lab.test")
        for mid in ids:
            msg = ("From: %s\r\nTo: %s\r\nSubject: burst %s\r\nMessage-ID: %s\r\n\r\nburst from %s\r\n"
                   % (sender, rcpt, mid, mid, host))
            s.sendmail(sender, [rcpt], msg.encode())
            with lock:
                out.append([mid, 250])
        s.quit()
    except (OSError, smtplib.SMTPException) as e:
        with lock:
            out.append([None, "%s: %s" % (e.__class__.__name__, e)])

threads = [threading.Thread(target=session, args=(k,)) for k in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
"""


def relay_of(lab, n: int) -> str:
    """The relay the n-th host sends to: the first half of the hosts the first relay, the rest the second."""
    return RELAYS[n * len(RELAYS) // len(lab.hosts)]


@pytest.fixture(scope="module")
def burst_relays(lab, standins, relay_runner):
    """host1 and host2 as designated xoauth2 relays sharing the stand-in's mailbox, on the scaled minute."""
    snaps = {h: pristine_snapshots(lab, h) for h in RELAYS}
    for h in RELAYS:
        restore_host(lab, snaps[h], h)
    standins.control.clear_faults()
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    role_vars = {
        "smtp_relay_vault": lab_vars["mailops_smtp_vault_oauth"],
        "smtp_relay_ca_path": lab.ca,
        # Each relay its own address (the inventory's), in one run over both.
        "smtp_relay_listen": ["{{ ansible_host }}"],
        "smtp_relay_allowed_networks": [lab.state["subnet"]],
        # The senders speak plain SMTP on the lab's own network (STARTTLS has test_relay_tls.py).
        "smtp_relay_allow_plaintext": True,
        "smtp_relay_recipient_domains": [DOMAIN],
        "smtp_relay_mailbox_relays": len(RELAYS),
        "smtp_relay_mailbox_minute_seconds": MINUTE,
        # The lab hosts have the packages; test_relay_xoauth2 runs the role's package step.
        "smtp_relay_install_packages": False,
    }
    try:
        yield relay_runner.run(",".join(RELAYS), role_vars)
    finally:
        standins.control.set_clock(60)
        for h in RELAYS:
            restore_host(lab, snaps[h], h)


def start_senders(lab, standins, tag: str) -> dict:
    """Every host's burst, all started at once: {host: Popen}."""
    procs = {}
    for n, h in enumerate(lab.hosts):
        relay_ip = lab.host(relay_of(lab, n))["ip"]
        argv = [h["python"], "-c", SENDER_CODE, relay_ip, standins.mailbox, f"burst@{DOMAIN}", tag, h["name"],
                str(MESSAGES_PER_HOST), str(SESSIONS_PER_HOST)]
        procs[h["name"]] = subprocess.Popen(in_host(h["pid"], argv), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
    return procs


def sent_ids(procs: dict) -> list[str]:
    """The message ids the relays accepted; every sender must have had all of its messages accepted."""
    ids = []
    for host, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (host, err[-2000:])
        replies = json.loads(out)
        assert [r for r in replies if r[1] != 250] == [] and len(replies) == MESSAGES_PER_HOST, (host, replies)
        ids += [r[0] for r in replies]
    return ids


def wait_drained(lab, standins, before: int, count: int) -> float:
    """Seconds until the stand-in has count more messages of the mailbox and both relays' queues are empty."""
    t0 = time.monotonic()
    deadline = t0 + DRAIN_TIMEOUT
    box = standins.mailbox
    while standins.control.mailbox_counters(box).get("messages", 0) < before + count:
        assert time.monotonic() < deadline, (
            f"{before + count - standins.control.mailbox_counters(box).get('messages', 0)} burst messages "
            f"not delivered within {DRAIN_TIMEOUT}s; queues: "
            + "; ".join(f"{h}: {len(queued_recipients(lab, h))}" for h in RELAYS))
        time.sleep(1)
    # The relays' queues empty themselves: no flush, no restart.
    while any(queued_recipients(lab, h) for h in RELAYS):
        assert time.monotonic() < deadline, {h: queued_recipients(lab, h) for h in RELAYS}
        time.sleep(1)
    return time.monotonic() - t0


def test_a_burst_through_two_relays_stays_within_the_shared_mailbox(lab, standins, burst_relays):
    run = burst_relays
    assert run.rc == 0, run.output[-3000:]
    for h in RELAYS:
        conf = lab.host_run(h, ["postconf", "-h", "inet_interfaces", "mailops_xoauth2_destination_concurrency_limit",
                                "mailops_xoauth2_destination_rate_delay"]).stdout.splitlines()
        # Half the mailbox each: 1 connection of 2, one message a second (15 in the scaled minute of 15 s).
        assert conf == [f"127.0.0.1, {lab.host(h)['ip']}", "1", "1s"], (h, conf)
    ctl = standins.control
    box = standins.mailbox
    before = ctl.mailbox_counters(box)
    log_start = {h: len(relay_log(lab, h)) for h in RELAYS}
    tag = uuid.uuid4().hex[:8]
    ctl.set_clock(MINUTE)
    t0 = time.monotonic()
    ids = sent_ids(start_senders(lab, standins, tag))
    expected = len(lab.hosts) * MESSAGES_PER_HOST
    assert len(set(ids)) == len(ids) == expected
    drained = wait_drained(lab, standins, before.get("messages", 0), expected)
    elapsed = time.monotonic() - t0
    after = ctl.mailbox_counters(box)

    burst = [m for m in ctl.messages() if f"-{tag}-" in (dict(m["headers"]).get("Message-ID") or "")]
    got = [dict(m["headers"])["Message-ID"] for m in burst]
    assert sorted(got) == sorted(ids), "missing: %s; more than once: %s" % (
        sorted(set(ids) - set(got))[:10], sorted({i for i in got if got.count(i) > 1})[:10])
    # Through the relays, logged in with XOAUTH2 as the mailbox.
    relay_ips = {lab.host(h)["ip"] for h in RELAYS}
    assert {m["peer"][0] for m in burst} == relay_ips
    assert {(m["auth_mechanism"], m["auth_identity"]) for m in burst} == {("XOAUTH2", box)}
    # Never a 432, never a message carried over to a later minute.
    assert after.get("send_rejected_concurrency", 0) == before.get("send_rejected_concurrency", 0)
    assert after.get("messages_delayed", 0) == before.get("messages_delayed", 0)
    delayed = [(dict(m["headers"])["Message-ID"], m["delivery"]) for m in burst if m["delayed"]]
    assert delayed == []
    # Each relay's log agrees: it carried its half, each message sent at the first try (a 432 defers).
    for h in RELAYS:
        log = [ln for ln in relay_log(lab, h)[log_start[h]:].splitlines() if "relay=mailops_xoauth2" in ln]
        assert not [ln for ln in log if "status=sent" not in ln], (h, log[:5])
        senders = [x for i, x in enumerate(lab.hosts) if relay_of(lab, i) == h]
        assert len(log) == len(senders) * MESSAGES_PER_HOST, (h, len(log))
    print(f"\nburst: {expected} messages through {len(RELAYS)} relays, drained {drained:.0f}s after the last "
          f"submission, {elapsed:.0f}s in all (the budget allows {expected / PER_MINUTE * MINUTE:.0f}s)")
