# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.migrate when a move fails (issue 21, section 4): a failing canary leaves every host as it was,
and a failure in the second batch restores that host while the first batch stays moved; each report says why.

Four lab hosts on basic auth, put there by one configure run: Grafana on the first (it moves through a relay of
its own host), msmtp on the others (native XOAUTH2). The batches run
one host at a time: the first host is the canary, the second the first batch, the third the second batch, the
fourth is never attempted once the third failed.

The failures are the stand-in's: Microsoft 365 refusing to take mail from one host's address (`550 5.7.708
Service unavailable. Access denied, traffic not accepted from this IP`, the fault ip_rejected). A login alone
still works from there, so the credential's proof before the plan (a token and one XOAUTH2 login from the first
host) succeeds, and the move writes, proves, meets the refusal and restores. On the canary it is the relay's
upstream that is refused (Grafana's proof goes through the host's relay to the stand-in).

The canary run leaves the fleet exactly as it was, so the batch run starts from the same fleet.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from .conftest import GRAFANA, Migration, _reset_hosts
from .test_move_restore import RECORD

STATE_DIR = "/var/lib/mailops-smtp/migrate"
# Everything a move may touch, compared whole (directories recursively): content, mode and owner.
WATCHED = ["/etc/postfix", "/etc/msmtprc", "/etc/msmtprc.ca-bundle.pem", "/etc/grafana", "/etc/mailops-smtp",
           "/usr/local/lib/mailops-smtp", "/var/lib/mailops-smtp", "/etc/cron.d"]
IP_REJECTED = "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP"
GRAFANA_APP = {"preset": "grafana", "smtp": {"ca_path": None}}


def fleet_apps(hosts: list[str]) -> dict:
    canary, first, second, last = hosts
    return {canary: [GRAFANA_APP], first: [{"preset": "msmtp"}], second: [{"preset": "msmtp"}],
            last: [{"preset": "msmtp"}]}


def record(lab, host: str) -> dict:
    """Every path a move may touch on the host, without the state directory (checked on its own: empty)."""
    out = json.loads(lab.host_run(host, [lab.host(host)["python"], "-c", RECORD, *WATCHED]).stdout)
    return {p: v for p, v in out.items() if not p.startswith(STATE_DIR)}


def records(lab, hosts) -> dict:
    return {h: record(lab, h) for h in hosts}


def saved_copies(lab, host: str) -> list[str]:
    """What is left in the state directory: the saved copies of a move (they hold the old passwords)."""
    return lab.host_run(host, ["sh", "-c", f"ls -A {STATE_DIR} 2>/dev/null || true"]).stdout.split()


def run_refused(fleet, host: str):
    """One migrate run while the stand-in refuses mail from that host's address; the fault is cleared after."""
    ip = fleet.lab.host(host)["ip"]
    fleet.standins.control.set_fault("ip_rejected", peers=[ip])
    try:
        return fleet.run()
    finally:
        fleet.standins.control.clear_faults("smtp")


@pytest.fixture(scope="module")
def fleet(lab, standins, tmp_path_factory):
    hosts = [h["name"] for h in lab.hosts[:4]]
    assert len(hosts) == 4, "the migrate failure tests need a lab of at least 4 hosts"
    tag = uuid.uuid4().hex[:10]
    apps = fleet_apps(hosts)
    mig = Migration(lab, standins, tmp_path_factory.mktemp("migrate-failures"), hosts,
                    f"smtp/fail-basic-{tag}", f"smtp/fail-oauth-{tag}", apps=apps,
                    role_vars={"smtp_migrate_relay": "local"})
    mig.secrets += [standins.password, standins.app.secret]
    mains = {h: {"main": lab.host_run(h, ["cat", "/etc/postfix/main.cf"]).stdout,
                 "master": lab.host_run(h, ["cat", "/etc/postfix/master.cf"]).stdout} for h in hosts}
    _reset_hosts(lab, hosts, mains)
    for h in hosts:
        if GRAFANA_APP in apps[h]:
            lab.host_run(h, ["sh", "-c", "mkdir -p /etc/grafana && cat > " + GRAFANA],
                         input="[server]\nhttp_port = 3000\n")
    mig.store_credentials()
    try:
        configured = mig.run(playbook="mailops.smtp.configure")
        assert configured.rc == 0, configured.output[-4000:]
        yield mig
    finally:
        standins.control.clear_faults("smtp")
        _reset_hosts(lab, hosts, mains)
        mig.forget_credentials()


@pytest.fixture(scope="module")
def failed_canary(lab, fleet):
    canary = fleet.hosts[0]
    before = records(lab, fleet.hosts)
    assert before[canary][GRAFANA][0] == "file" and before[fleet.hosts[1]]["/etc/msmtprc"][0] == "file"
    run = run_refused(fleet, canary)
    return {"run": run, "before": before, "after": records(lab, fleet.hosts), "report": fleet.report(),
            "markdown": (fleet.scratch / "report" / "migration.md").read_text()}


@pytest.fixture(scope="module")
def failed_batch(lab, fleet, failed_canary):
    # After the canary's run (which must leave the fleet as it was): the same fleet, the third host refused.
    second = fleet.hosts[2]
    before = records(lab, fleet.hosts)
    run = run_refused(fleet, second)
    return {"run": run, "before": before, "after": records(lab, fleet.hosts), "report": fleet.report(),
            "markdown": (fleet.scratch / "report" / "migration.md").read_text()}


def hosts_of(report: dict) -> dict:
    return {h["host"]: h for h in report["hosts"]}


def differences(before: dict, after: dict) -> dict:
    return {p: (before.get(p), after.get(p)) for p in sorted(set(before) | set(after)) if before.get(p) != after.get(p)}


# -- a failing canary -------------------------------------------------------------------------------------------

def test_a_failing_canary_stops_the_run_with_the_reason(fleet, failed_canary):
    run, report = failed_canary["run"], failed_canary["report"]
    canary, *others = fleet.hosts
    assert run.rc != 0, run.output[-5000:]
    # The credential's own proof (a token and one XOAUTH2 login from the canary) passed: the refusal is the
    # relay's upstream, met by the canary's proof after the move wrote.
    assert f"canary: {canary}" in run.output, run.output[-5000:]
    assert report["state"] == "stopped", report
    statuses = {h: e["status"] for h, e in hosts_of(report).items()}
    assert statuses == {canary: "restored", **{h: "not_run" for h in others}}, statuses
    entry = hosts_of(report)[canary]
    # Why, in Microsoft's words, and what came back.
    assert IP_REJECTED in entry["message"], entry["message"]
    assert GRAFANA in entry["restored_files"] and "/etc/postfix/main.cf" in entry["restored_files"], entry
    grafana = entry["apps"][0]
    assert grafana["proof_accepted"] is False and IP_REJECTED in (grafana["proof_reply"] or ""), grafana
    assert canary in report["message"], report["message"]
    assert IP_REJECTED in failed_canary["markdown"]
    # Nothing moved: every file still holds its password, and no credential can be retired.
    assert report["retirable_credentials"] == []


def test_a_failing_canary_leaves_every_host_byte_for_byte_as_it_was(lab, fleet, failed_canary):
    before, after = failed_canary["before"], failed_canary["after"]
    assert {h: differences(before[h], after[h]) for h in fleet.hosts} == {h: {} for h in fleet.hosts}
    assert {h: saved_copies(lab, h) for h in fleet.hosts} == {h: [] for h in fleet.hosts}
    assert fleet.lock(fleet.basic_path)["state"] == "released"
    assert fleet.lock(fleet.oauth_path)["state"] == "released"


# -- a failure in the second batch ------------------------------------------------------------------------------

def test_a_failure_in_the_second_batch_is_reported_exactly(fleet, failed_batch):
    run, report = failed_batch["run"], failed_batch["report"]
    canary, first, second, last = fleet.hosts
    assert run.rc != 0, run.output[-5000:]
    statuses = {h: e["status"] for h, e in hosts_of(report).items()}
    assert statuses == {canary: "moved", first: "moved", second: "restored", last: "not_run"}, statuses
    assert report["state"] == "stopped" and f"{second} (restored)" in report["message"], report["message"]
    assert f"{last} (not_run)" in report["message"], report["message"]
    entries = hosts_of(report)
    assert IP_REJECTED in entries[second]["message"], entries[second]["message"]
    assert "/etc/msmtprc" in entries[second]["restored_files"], entries[second]
    # The moved hosts were proven; the third host's proofs were refused.
    for host in (canary, first):
        assert all(a["proof_accepted"] is True for a in entries[host]["apps"]), entries[host]["apps"]
    assert [a["proof_accepted"] for a in entries[second]["apps"]] == [False], entries[second]["apps"]
    assert IP_REJECTED in (entries[second]["apps"][0]["proof_reply"] or ""), entries[second]["apps"]
    # The files still holding a password are those of the hosts that did not move.
    assert {(f["host"], f["path"]) for f in report["password_files"]} == {
        (second, "/etc/msmtprc"), (last, "/etc/msmtprc")}
    assert report["retirable_credentials"] == []


def test_the_first_batch_stays_moved_and_the_failed_host_is_back_byte_for_byte(lab, fleet, failed_batch):
    before, after = failed_batch["before"], failed_batch["after"]
    canary, first, second, last = fleet.hosts
    # The failed host and the one never attempted: every file as before, content, mode and owner.
    assert differences(before[second], after[second]) == {}
    assert differences(before[last], after[last]) == {}
    # The canary and the first batch moved: their files are the new ones.
    msmtprc = lab.host_run(first, ["cat", "/etc/msmtprc"]).stdout
    assert "auth xoauth2" in msmtprc and not re.search(r"^\s*password\s", msmtprc, re.M), msmtprc
    assert "127.0.0.1:25" in lab.host_run(canary, ["cat", GRAFANA]).stdout
    assert differences(before[canary], after[canary]) and differences(before[first], after[first])
    # No saved copy left anywhere, and the locks are free.
    assert {h: saved_copies(lab, h) for h in fleet.hosts} == {h: [] for h in fleet.hosts}
    assert fleet.lock(fleet.basic_path)["state"] == "released"
    assert fleet.lock(fleet.oauth_path)["state"] == "released"
