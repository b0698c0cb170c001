# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""One designated relay (host1, xoauth2 upstream) shared by the relay tests of a module.

host1 listens on its lab address and lets only host2 relay, for contoso.com only; host3 is
outside. The credential comes from the lab's OpenBao (the oauth2 secret), as in production.
Senders are kept (smtp_relay_rewrite_sender false) so that a test can send with another From
and see Microsoft's permanent SendAs refusal bounce.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.configure.conftest import Configure, Run, read_file, write_file

RELAY, CLIENT, OUTSIDER = "host1", "host2", "host3"
DOMAIN = "contoso.com"
FILES = ["/etc/postfix/main.cf", "/etc/postfix/master.cf"]
RELAY_PATHS = ("/etc/mailops-smtp /var/lib/mailops-smtp /usr/local/lib/mailops-smtp "
               "/etc/cron.d/mailops-smtp-relay-token")
# A client's SMTP session, run with the host's own Python: prints the reply to each step as JSON.
CLIENT_CODE = r"""
import json, smtplib, sys
host, sender, header_from, rcpt, subject = sys.argv[1:6]
out = {}
try:
    s = smtplib.SMTP(host, 25, timeout=20)
    s.ehlo("client.lab.test")
    code, text = s.mail(sender)
    out["mail"] = [code, text.decode()]
    for to in rcpt.split(","):
        code, text = s.rcpt(to)
        out["rcpt"] = [code, text.decode()]
    if code == 250:
        msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nthrough the relay\r\n" % (header_from, rcpt, subject)
        code, text = s.data(msg.encode())
        out["data"] = [code, text.decode()]
    s.quit()
except (OSError, smtplib.SMTPException) as e:
    out["error"] = "%s: %s" % (e.__class__.__name__, e)
print(json.dumps(out))
"""


class RelayRun(Configure):
    def argv(self, hosts: str, role_vars: dict, *extra: str) -> list[str]:
        return ["mailops.smtp.relay", "-l", hosts, "-e", f"@{self._vars_file(role_vars)}", *extra]


def submit(lab, client: str, rcpt: str, subject: str, sender: str, header_from: str | None = None) -> dict:
    """An SMTP session from client to the relay's lab address; the replies as a dict.

    rcpt may name several recipients, separated by commas; "rcpt" is the reply to the last."""
    p = lab.host_run(client, [lab.host(client)["python"], "-c", CLIENT_CODE, lab.host(RELAY)["ip"], sender,
                              header_from or sender, rcpt, subject])
    return json.loads(p.stdout)


def submit_local(lab, rcpt: str, subject: str, sender: str) -> dict:
    """An SMTP session from an application on the relay host itself, to 127.0.0.1."""
    p = lab.host_run(RELAY, [lab.host(RELAY)["python"], "-c", CLIENT_CODE, "127.0.0.1", sender, sender, rcpt,
                             subject])
    return json.loads(p.stdout)


def relay_log(lab, host: str = RELAY) -> str:
    return read_file(lab, host, "/var/log/postfix.log")


def wait_log(lab, pattern: str, timeout: float = 60) -> re.Match:
    """The first line of the relay's Postfix log matching pattern, polled (bounded)."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while True:
        for line in relay_log(lab).splitlines():
            m = rx.search(line)
            if m:
                return m
        if time.monotonic() > deadline:
            raise AssertionError(f"no line matching {pattern!r} in host1's Postfix log within {timeout}s:\n"
                                 + relay_log(lab)[-3000:])
        time.sleep(0.5)


def queued_recipients(lab, host: str = RELAY) -> list[str]:
    p = lab.host_run(host, ["postqueue", "-j"])
    return sorted(r["address"] for line in p.stdout.splitlines() if line.strip()
                  for r in json.loads(line).get("recipients", []))


def messages_to(standins, rcpt: str) -> list[dict]:
    return [m for m in standins.control.messages() if rcpt in m["rcpt_tos"]]


def messages_by_rcpt(standins, rcpts: list[str]) -> dict[str, list[dict]]:
    """{recipient: the stand-in's messages to it}, from one read of its store (which can hold thousands)."""
    found = {r: [] for r in rcpts}
    for m in standins.control.messages():
        for r in m["rcpt_tos"]:
            if r in found:
                found[r].append(m)
    return found


def wait_for_rcpts(standins, rcpts: list[str], timeout: float = 90) -> dict[str, list[dict]]:
    """Poll the stand-in until each recipient has a message (bounded); then messages_by_rcpt."""
    deadline = time.monotonic() + timeout
    while True:
        found = messages_by_rcpt(standins, rcpts)
        missing = [r for r, ms in found.items() if not ms]
        if not missing:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no message to {missing} reached the stand-in within {timeout}s")
        time.sleep(0.5)


def restore_host(lab, snaps: dict, host: str = RELAY) -> None:
    """The host's Postfix files as snapshotted, no relay files, an empty queue, Postfix restarted."""
    for path, text in snaps.items():
        write_file(lab, host, path, text)
    lab.host_run(host, ["sh", "-c", f"rm -rf {RELAY_PATHS}; postsuper -d ALL >/dev/null 2>&1; "
                                    "postfix stop >/dev/null 2>&1; postfix start >/dev/null 2>&1; true"])


def pristine_snapshots(lab, host: str = RELAY) -> dict:
    """The host's main.cf and master.cf as the lab made them (kept in the lab dir, keyed by the host's pid)."""
    snaps = {}
    for path in FILES:
        snap = lab.dir / f"relay-{host}-{Path(path).name}.{lab.host(host)['pid']}"
        if not snap.exists():
            snap.write_text(read_file(lab, host, path))
        snaps[path] = snap.read_text()
    return snaps


@pytest.fixture(scope="module")
def pristine_relay_host(lab, standins):
    """host1 as the lab made it (no relay, empty queue, loopback only), before and after the module."""
    snaps = pristine_snapshots(lab)
    restore_host(lab, snaps)
    standins.control.clear_faults()
    try:
        yield RELAY
    finally:
        standins.control.clear_faults()
        restore_host(lab, snaps)


@pytest.fixture(scope="module")
def relay_runner(lab, tmp_path_factory):
    return RelayRun(lab, tmp_path_factory.mktemp("relay"))


def designated_relay_vars(lab) -> dict:
    """host1 as a designated xoauth2 relay for host2, contoso.com only; the credential from OpenBao."""
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    return {
        "smtp_relay_vault": lab_vars["mailops_smtp_vault_oauth"],
        "smtp_relay_ca_path": lab.ca,
        "smtp_relay_listen": [lab.host(RELAY)["ip"]],
        "smtp_relay_allowed_networks": [lab.host(CLIENT)["ip"] + "/32"],
        "smtp_relay_recipient_domains": [DOMAIN],
        "smtp_relay_rewrite_sender": False,
    }


@pytest.fixture(scope="module")
def relay(lab, pristine_relay_host, relay_runner):
    """host1 as a designated xoauth2 relay: first a --check --diff run, then the real one.

    Its clients here speak plain SMTP (the test's smtplib sessions), on the lab's own network:
    plaintext is allowed explicitly (test_relay_tls.py gives the relay a certificate)."""
    role_vars = dict(designated_relay_vars(lab), smtp_relay_allow_plaintext=True)
    before = {p: read_file(lab, RELAY, p) for p in FILES}
    check = relay_runner.run(RELAY, role_vars, "--check", "--diff")
    after_check = {p: read_file(lab, RELAY, p) for p in FILES}
    run = relay_runner.run(RELAY, role_vars, "--diff")
    return {"runner": relay_runner, "vars": role_vars, "check": check, "run": run,
            "before": before, "after_check": after_check}


__all__ = ["Run"]
