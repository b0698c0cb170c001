# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-mailbox limit is held: AUTH from every one of 10 hosts at 10 forks (issue 7; issue 9 section 4).

Microsoft 365 refuses a 4th concurrent session per mailbox with 432 4.3.2; the stand-in does the same
(its limit stays at 3) and counts each mailbox's peak of concurrent authenticated sessions. Every host
gets 50 ms of latency each way: sessions then last long enough to overlap, so without the role's
throttle the stand-in sees 3 at once and refuses more (checked by hand when this test was written).
"""

from __future__ import annotations

import pytest

from .conftest import host_names

HOSTS = 10
CONCURRENCY = 2
LATENCY_MS = 50


@pytest.fixture(scope="module")
def load(lab, validate, module_knobs, fresh_standins, tmp_path_factory):
    hosts = host_names(lab, HOSTS)
    for host in hosts:
        module_knobs.latency(host, LATENCY_MS)
    fresh_standins.control.reset()
    before = fresh_standins.control.mailbox_counters(fresh_standins.mailbox)
    run = validate(tmp_path_factory.mktemp("validate-load") / "report", "--limit", ",".join(hosts),
                   "--forks", str(HOSTS),
                   extra_vars={"smtp_validate_auth_hosts": "all", "smtp_validate_auth_concurrency": CONCURRENCY})
    after = fresh_standins.control.counters()
    return {"hosts": hosts, "run": run, "before": before, "after": after}


def test_auth_from_every_host_never_exceeds_the_concurrency(load, standins):
    run = load["run"]
    assert run.rc == 0, run.explain()
    assert not load["before"].get("auth_ok"), "the stand-ins were not reset"
    mbx = load["after"]["mailboxes"][standins.mailbox.lower()]
    assert 1 <= mbx["peak_concurrent"] <= CONCURRENCY, mbx
    assert mbx["auth_rejected_concurrency"] == 0 and mbx["send_rejected_concurrency"] == 0, mbx
    assert mbx["auth_ok"] == HOSTS and mbx["auth_fail"] == 0, mbx
    assert load["after"]["concurrency_limit"] == 3


def test_no_host_is_missed_and_no_432_comes_from_our_checks(load):
    run = load["run"]
    report = run.report
    assert [h["host"] for h in report["hosts"]] == load["hosts"]
    assert report["summary"]["hosts_ok"] == HOSTS and report["summary"]["hosts_unreachable"] == 0
    records = run.records()
    for host in load["hosts"]:
        auth = records[(host, 587)]["auth"]
        assert auth and auth["ok"] and auth["reply"].startswith("235"), (host, auth)
    texts = [run.stdout, (run.report_dir / "report.json").read_text()]
    assert not any("432" in t and "4.3.2" in t for t in texts), "a 432 4.3.2 reached the report or the log"
