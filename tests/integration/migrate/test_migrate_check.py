# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.migrate before it moves anything (issue 21, sections 2.1 and 2.2): --check shows the plan and
changes nothing, a run is refused while another run holds the lock of a credential it reads or changes, and a
host that cannot be reached stops the run (smtp_migrate_unreachable=stop) before anything is locked.

Two lab hosts on basic auth: Postfix and msmtp on the first, Grafana on the second. One configure run puts them
there; the two migrate runs share it. Runs against the lab's real OpenBao, hosts and stand-ins.
"""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import fresh_migration


def task_outcome(output: str, task: str) -> str:
    """The first result line of the task of that name (ok: [host], skipping: [host], ...)."""
    part = output.split(f"{task}] ***", 1)
    assert len(part) == 2, f"the task {task!r} did not run"
    return next(ln for ln in part[1].splitlines() if ln.strip() and not ln.startswith("*")).split(" =>")[0].strip()


@pytest.fixture(scope="module")
def migration(lab, standins, tmp_path_factory):
    with fresh_migration(lab, standins, tmp_path_factory.mktemp("migrate"), "migrate") as mig:
        configured = mig.run(playbook="mailops.smtp.configure")
        assert configured.rc == 0, configured.output[-4000:]
        yield mig


def test_check_shows_the_plan_proves_the_credential_and_changes_nothing(migration):
    h0, h1 = migration.hosts
    before = migration.checksums()
    assert before[h0]["/etc/postfix/sasl_passwd"] and before[h0]["/etc/msmtprc"]
    assert before[h1]["/etc/grafana/grafana.ini"]

    run = migration.run("--check")
    assert run.rc == 0, run.output[-5000:]

    # The plan, in the console: msmtp logs in with XOAUTH2 itself, Postfix and Grafana go through a relay
    # of their own host (Postfix is taken over by it), and each host runs one.
    for line in (f"| {h0} | postfix (default path) | basic | via_relay 127.0.0.1:25 | "
                 "the host's relay (smtp_relay) takes this Postfix over |",
                 f"| {h0} | msmtp (default path) | basic | xoauth2 |  |",
                 f"| {h0} | (relay) | - | smtp_relay upstream xoauth2, listen loopback |  |",
                 f"| {h1} | grafana (default path) | basic | via_relay 127.0.0.1:25 |  |",
                 f"canary: {h0}"):
        assert line in run.output, run.output[-5000:]
    # The credential to move to was proven from one host: a token, then one XOAUTH2 login.
    assert task_outcome(run.output, "Request a token and log in once with XOAUTH2 from one host") == f"ok: [{h0}]"
    assert task_outcome(run.output, "Stop when the credential was refused; nothing was written") == f"skipping: [{h0}]"
    # --check stops after the plan: no move, no after report.
    assert "Move the canary (save" not in run.output and "after the migration" not in run.output

    # Nothing changed on any host.
    assert migration.checksums() == before
    # No lock was left in Vault (check mode reads the locks, takes none).
    assert migration.lock(migration.basic_path) is None and migration.lock(migration.oauth_path) is None

    report = migration.report()
    assert report["state"] == "planned" and report["check_mode"] is True and report["message"] is None
    assert report["credential"] == f"secret/{migration.oauth_path}"
    assert [h["status"] for h in report["hosts"]] == ["planned", "planned"]
    apps = {(h["host"], a["name"]): a for h in report["hosts"] for a in h["apps"]}
    assert {k: (a["before"], a["planned"], a["after"]) for k, a in apps.items()} == {
        (h0, "postfix (default path)"): ("basic", "via_relay", None),
        (h0, "msmtp (default path)"): ("basic", "xoauth2", None),
        (h1, "grafana (default path)"): ("basic", "via_relay", None)}
    plans = {h["host"]: h for h in report["hosts"]}
    # The host's new smtp_configure_apps: the relay took this Postfix over, msmtp has no login mechanism pinned.
    assert plans[h0]["configure_apps"] == [{"preset": "msmtp"}]
    assert plans[h1]["configure_apps"] == [{"preset": "grafana", "smtp": {"ca_path": None},
                                            "options": {"mode": "via_relay"}}]
    assert plans[h0]["relay"] == plans[h1]["relay"] == {
        "smtp_relay_upstream": "xoauth2", "smtp_relay_listen": "loopback", "smtp_relay_mailbox_relays": 2}
    # Nothing moved: every file still holds its password, and no basic credential can be retired yet.
    assert {(f["host"], f["path"]) for f in report["password_files"]} == {
        (h0, "/etc/postfix/sasl_passwd"), (h0, "/etc/msmtprc"), (h1, "/etc/grafana/grafana.ini")}
    assert report["retirable_credentials"] == []
    # The before fleet report, labelled, beside it.
    assert (migration.scratch / "report" / "before" / "report.json").exists()
    before_report = json.loads((migration.scratch / "report" / "before" / "report.json").read_text())
    assert before_report["title"] == "SMTP submission readiness, before the migration"
    assert "| grafana (default path) |" in (migration.scratch / "report" / "migration.md").read_text()


def test_apps_given_with_extra_vars_are_refused_before_anything_is_locked_or_written(migration):
    # An operator's apps in -e would outrank the plan's apps that the move gives the configure role: every host
    # would be written with its old list and the new credential, fail its proof and be restored.
    before = migration.checksums()
    locks = [migration.lock(p) for p in (migration.basic_path, migration.oauth_path)]

    # With the two variables only the move sets (its proof, its lock's run id) in the same -e: refused too, each
    # group with its own advice.
    run = migration.run("-e", json.dumps({"smtp_configure_apps": migration.apps[migration.hosts[0]],
                                          "smtp_configure_credential_proven": False,
                                          "smtp_configure_lock_run_id": "x"}))
    assert run.rc != 0, run.output[-4000:]
    why = ("smtp_configure_apps is given as an extra variable (-e) or set as a fact, and that outranks what the "
           "move sets (for the configure role, each host's planned apps).")
    assert why in run.output, run.output[-4000:]
    assert "Put smtp_configure_apps in the inventory (group_vars or host_vars), not in -e" in run.output
    own = ("smtp_configure_credential_proven and smtp_configure_lock_run_id are given as an extra variable (-e) or "
           "set as a fact")
    assert own in run.output, run.output[-4000:]
    assert ("Leave smtp_configure_credential_proven and smtp_configure_lock_run_id out of -e (and out of "
            "set_fact): the move sets them itself.") in run.output, run.output[-4000:]
    # Refused first: no fleet report, no lock taken, no proof, no plan, nothing written.
    for step in ("Write the fleet report before", "Fleet locks: take", "Request a token and log in once",
                 "Plan the fleet", "Move the canary (save"):
        assert step not in run.output, (step, run.output[-4000:])
    assert migration.checksums() == before
    assert [migration.lock(p) for p in (migration.basic_path, migration.oauth_path)] == locks
    # The report says why, on this exit path too.
    report = migration.report()
    assert report["state"] == "stopped" and why in report["message"] and own in report["message"], report
    assert report["check_mode"] is False and [h["status"] for h in report["hosts"]] == ["not_run", "not_run"]
    assert why in (migration.scratch / "report" / "migration.md").read_text()


def test_a_run_is_refused_while_another_run_holds_a_lock_and_frees_the_locks_it_took(migration):
    other = f"other-{uuid.uuid4().hex[:8]}"
    planted = migration.plant_lock(migration.oauth_path, other)
    before = migration.checksums()

    run = migration.run()
    assert run.rc != 0
    assert f"carol on ctl-other (run id {other})" in run.output, run.output[-4000:]
    assert f"expires at {planted['expires_at']}" in run.output
    # Refused before the proof, the plan and any move.
    assert "Request a token and log in once" not in run.output and "Plan the fleet" not in run.output
    assert migration.checksums() == before
    # The other run's lock is untouched; the lock this run took first (the hosts' basic credential) is free again.
    assert migration.lock(migration.oauth_path) == planted
    basic = migration.lock(migration.basic_path)
    assert basic is not None and basic["state"] == "released" and basic["run_id"] != other, basic
    # The report is written on this exit path too, with the reason.
    report = migration.report()
    assert report["state"] == "stopped" and f"run id {other}" in report["message"]
    assert report["check_mode"] is False and [h["status"] for h in report["hosts"]] == ["not_run", "not_run"]


def test_a_host_down_stops_the_run_before_anything_is_locked_or_written(migration, knobs):
    h0, down = migration.hosts
    knobs.ssh_down(down)
    before = migration.checksums()[h0]
    locks = [migration.lock(p) for p in (migration.basic_path, migration.oauth_path)]

    run = migration.run()
    assert run.rc != 0
    assert f"1 host(s) cannot be reached: {down} (" in run.output, run.output[-4000:]
    assert "smtp_migrate_unreachable=skip" in run.output
    # Stopped first: no fleet report, no lock taken, no proof, nothing written on the host that answers.
    assert "Fleet locks: take" not in run.output and "Request a token and log in once" not in run.output
    assert migration.checksums()[h0] == before
    assert [migration.lock(p) for p in (migration.basic_path, migration.oauth_path)] == locks
    report = migration.report()
    assert report["state"] == "unreachable" and f"{down} (" in report["message"]
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [(h0, "not_run"), (down, "unreachable")]
