# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test messages obey the mailbox's messages-a-minute limit, as the stand-in models it.

As Microsoft 365 does, the stand-in accepts a mailbox's messages beyond its limit within a
minute but delays them: each is recorded with the later minute it is delivered in ("throttled and
successively carried over to the following minutes"). Unpaced test messages would so delay the
mailbox's real mail. The limit is lowered to 3 here so that the test takes about a minute.
"""

from __future__ import annotations

import json

import pytest

from .conftest import host_names

LIMIT = 3
HOSTS = 5


@pytest.fixture(scope="module")
def paced(lab, validate, vault_vars, fresh_standins, tmp_path_factory):
    ctl = fresh_standins.control
    mbx = fresh_standins.mailbox
    hosts = host_names(lab, HOSTS)
    send = {"from": mbx, "to": ["ops@contoso.com"], "subject": "paced"}
    scratch = tmp_path_factory.mktemp("validate-pace")
    out = {"hosts": hosts}

    # Without pacing, what goes over the limit is accepted but delayed: the probe on its own. Five
    # logins at once would also meet the 3-connection limit (432 4.3.2) whenever they happen to
    # overlap, which is not what this part checks, so that limit is off for it.
    ctl.set_mailbox(mbx, messages_per_minute=LIMIT)
    ctl.set_concurrency_limit(None)
    args = {"ports": [587], "ca_path": lab.ca, "retries": 0, "send": send,
            "auth": {"username": mbx, "password": fresh_standins.password}}
    proc = lab.ansible(["all", "--limit", ",".join(hosts), "-f", str(HOSTS), "-m", "mailops.smtp.probe",
                        "-a", json.dumps(args), "-o"], tool="ansible")
    out["unpaced"] = {"stdout": proc.stdout, "counters": ctl.counters()["mailboxes"][mbx.lower()],
                      "messages": ctl.messages()}

    # The role, paced at the limit, from every host at once.
    ctl.reset()
    ctl.set_mailbox(mbx, messages_per_minute=LIMIT)
    before = len(ctl.messages())
    run = validate(scratch / "paced", "--limit", ",".join(hosts), "-f", str(HOSTS),
                   extra_vars={"smtp_validate_auth_hosts": "all", "smtp_validate_auth_concurrency": 3,
                               "smtp_validate_send": send, "smtp_validate_send_per_minute": LIMIT})
    out["paced"] = {"run": run, "messages": ctl.messages()[before:],
                    "counters": ctl.counters()["mailboxes"][mbx.lower()]}

    # Check mode sends nothing, so it neither waits nor sends.
    ctl.reset()
    ctl.set_mailbox(mbx, messages_per_minute=LIMIT)
    before = len(ctl.messages())
    check = validate(scratch / "check", "--limit", ",".join(hosts), "--check",
                     extra_vars={"smtp_validate_auth_hosts": "all", "smtp_validate_send": send,
                                 "smtp_validate_send_per_minute": LIMIT})
    out["check"] = {"run": check, "messages": ctl.messages()[before:]}
    return out


def test_unpaced_sends_over_the_limit_are_accepted_and_delayed_as_microsoft_does(paced):
    counters = paced["unpaced"]["counters"]
    assert counters["auth_ok"] == HOSTS and counters["auth_rejected_concurrency"] == 0, counters
    # Nothing refused: all five accepted, the two over the limit carried over to the next minute.
    assert counters["messages"] == HOSTS and counters["messages_refused_quota"] == 0, counters
    assert counters["messages_delayed"] == HOSTS - LIMIT, counters
    delayed = [m for m in paced["unpaced"]["messages"] if m["delayed"]]
    assert len(delayed) == HOSTS - LIMIT
    assert all(m["delivery"]["delivery_minute"] == m["delivery"]["submitted_minute"] + 1 for m in delayed)
    stdout = paced["unpaced"]["stdout"]
    assert "quota_exceeded" not in stdout and stdout.count("SUCCESS") == HOSTS, stdout[-3000:]


def test_the_role_paces_its_test_messages_under_the_limit(paced):
    run = paced["paced"]["run"]
    assert run.rc == 0, run.explain()
    assert paced["paced"]["counters"]["messages_refused_quota"] == 0
    # Paced at the limit, no test message waits for a later minute.
    assert paced["paced"]["counters"]["messages_delayed"] == 0, paced["paced"]["counters"]
    assert not any(m["delayed"] for m in paced["paced"]["messages"])
    times = sorted(m["received_at"] for m in paced["paced"]["messages"] if m["envelope_from"])
    assert len(times) == HOSTS, paced["paced"]["messages"]
    # No 60 s window holds more than LIMIT messages.
    for first, later in zip(times, times[LIMIT:]):
        assert later - first >= 60.0, times
    sent = {r["host"] for r in run.report["records"] for s in r["stages"] if s["name"] == "send" and s["ok"]}
    assert sent == set(paced["hosts"])


def test_check_mode_sends_nothing_and_does_not_wait(paced):
    run = paced["check"]["run"]
    assert run.rc == 0, run.explain()
    assert paced["check"]["messages"] == []
