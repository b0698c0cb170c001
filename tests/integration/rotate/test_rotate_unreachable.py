# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.rotate with hosts that cannot be reached (issue 16, items 1 and 2).

A host is taken down by making it refuse SSH (knobs.ssh_down: a TCP reset on port 22, so Ansible finds
it unreachable at once); the knobs fixture brings it back after each test. In file order, on the five
hosts of the shared set-up (v1 everywhere):
- the last host down: the default (stop) ends the run before the canary, nothing stored, a report naming it;
- still down: report mode and --check finish, with the reachable hosts' drift and the unreachable host listed;
- still down, with skip (on two hosts): the other goes to v2, the report gives it `unreachable` with its
  last known version;
- a host lost mid-rollout to v3 (three hosts, serial 1): recorded, the report rewritten after every batch,
  the run fails with the command that finishes the rollout; once the host is back, that command finishes it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.configure.conftest import Run


@pytest.fixture(scope="module")
def secrets(rotation):
    return {v: f"Rot{v}-{uuid.uuid4().hex[:12]}#;%=:" for v in (2, 3)}


def _results(report: dict) -> dict:
    return {h["host"]: h["result"] for h in report["hosts"]}


def _run_command(rotation, command: str, timeout: float = 600) -> Run:
    """Run a command the report gives, as the operator would paste it (the lab's ansible-playbook)."""
    argv = shlex.split(command)
    assert argv[0] == "ansible-playbook", command
    argv[0] = str(Path(sys.executable).parent / "ansible-playbook")
    env = dict(rotation.lab.env, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(rotation.lab.dir), timeout=timeout,
                       check=False, stdin=subprocess.DEVNULL)
    run = Run(p.returncode, p.stdout, p.stderr)
    rotation.assert_no_leak(run.output)
    return run


def test_a_host_down_stops_the_run_before_the_canary(rotation, secrets, knobs):
    down = rotation.hosts[-1]
    knobs.ssh_down(down)
    before = {h: s for h, s in rotation.checksums().items() if h != down}
    rotation.standins.control.add_password(rotation.standins.mailbox, secrets[2])
    run = rotation.run(smtp_rotate_new_credential_file=rotation.new_credential_file(secrets[2]))
    assert run.rc != 0
    assert f"1 host(s) cannot be reached: {down}" in run.output, run.output[-4000:]
    assert "nothing was stored in Vault" in run.output
    assert "Authenticate from one host with the credential to roll out" not in run.output
    assert rotation.vault_version() == 1
    assert {h: s for h, s in rotation.checksums().items() if h != down} == before
    report = rotation.report()
    assert report["state"] == "unreachable" and report["stored"] is False and report["unreachable"] == [down]
    results = _results(report)
    assert results.pop(down) == "unreachable" and set(results.values()) == {"not_reached"}
    # The version the previous report (the set-up's) saw on it.
    apps = next(h for h in report["hosts"] if h["host"] == down)["apps"]
    assert apps and {a["after"] for a in apps} == {"1"}
    # An exit path of the fleet lock: the run stopped before taking it, so it is free.
    record = rotation.lock()[0]
    assert record is None or record.get("state") != "held", record


def test_report_mode_and_check_finish_and_list_the_unreachable_host(rotation, knobs):
    down = rotation.hosts[-1]
    knobs.ssh_down(down)
    for extra, role_vars in (((), {"smtp_rotate_mode": "report"}), (("--check",), {})):
        run = rotation.run(*extra, **role_vars)
        assert run.rc == 0, run.output[-4000:]
        report = rotation.report()
        assert report["mode"] == "report" and report["unreachable"] == [down]
        results = _results(report)
        assert results.pop(down) == "unreachable" and set(results.values()) == {"in_sync"}
        assert report["drift"] == [] and report["finish_command"] is None
        assert {a["after"] for h in report["hosts"] if h["host"] == down for a in h["apps"]} == {"1"}


def test_skip_rotates_the_others_and_lists_the_unreachable_host(rotation, secrets, knobs):
    """Two hosts (one down) are enough, and cheaper: the other three keep v1."""
    hosts, down = rotation.hosts[3:], rotation.hosts[-1]
    knobs.ssh_down(down)
    run = rotation.run(smtp_rotate_new_credential_file=rotation.new_credential_file(secrets[2]),
                       smtp_rotate_unreachable="skip", smtp_rotate_hosts=",".join(hosts))
    assert run.rc != 0, run.output[-4000:]
    assert rotation.vault_version() == 2
    report = rotation.report()
    assert report["state"] == "unreachable" and report["stored"] is True and not report["stopped"]
    assert _results(report) == {hosts[0]: "rotated", down: "unreachable"}
    versions = rotation.versions()
    assert set(versions[hosts[0]].values()) == {"2"}
    assert set(versions[down].values()) == {"1"}
    assert report["drift"] == [] and report["unreachable"] == [down]
    assert "smtp_rotate_version" in report["finish_command"] and report["finish_command"] in run.output
    md = (rotation.scratch / "report" / "rotation.md").read_text()
    assert f"- {down}: unreachable" in md and report["finish_command"] in md


def test_a_host_lost_mid_rollout_is_reported_and_the_finish_command_finishes(rotation, secrets, knobs):
    """Three hosts, one per batch: the second is lost after the first got v3; the third still gets it."""
    hosts, lost = rotation.hosts[:3], rotation.hosts[1]
    rotation.standins.control.add_password(rotation.standins.mailbox, secrets[3])
    report_file = rotation.scratch / "report" / "rotation.json"
    seen, stop = [], threading.Event()

    def watch():
        # Take the second host down once the first holds v3 (its batch is under way or done); keep every
        # report written meanwhile.
        cut = False
        while not stop.is_set():
            if not cut:
                conf = rotation.lab.host_run(hosts[0], ["cat", "/etc/postfix/sasl_passwd"], check=False).stdout
                if secrets[3] in conf:
                    knobs.ssh_down(lost)
                    cut = True
            try:
                seen.append(json.loads(report_file.read_text()))
            except (OSError, ValueError):
                pass
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = rotation.run(smtp_rotate_new_credential_file=rotation.new_credential_file(secrets[3]),
                           smtp_rotate_serial=1, smtp_rotate_max_fail_percentage=50,
                           smtp_rotate_hosts=",".join(hosts))
    finally:
        stop.set()
        watcher.join(10)
    assert run.rc != 0, run.output[-4000:]
    assert rotation.vault_version() == 3
    report = rotation.report()
    assert report["state"] == "unreachable" and not report["stopped"], report
    assert _results(report) == {**{h: "rotated" for h in hosts if h != lost}, lost: "unreachable"}
    lost_entry = next(h for h in report["hosts"] if h["host"] == lost)
    assert "lost during the rollout" in lost_entry["reason"]
    assert {a["after"] for a in lost_entry["apps"]} == {"unknown"}
    assert all(set(v.values()) == {"3"} for h, v in rotation.versions().items() if h != lost)
    assert list(rotation.versions()) == hosts
    # The report was rewritten after the batches, in progress, before the outcome.
    progress = [r for r in seen if r.get("state") == "in_progress" and r.get("target_version") == "3"]
    assert progress, [r.get("state") for r in seen]
    assert any(_results(r)[hosts[0]] == "rotated" and _results(r)[hosts[2]] == "not_reached" for r in progress)
    assert any(_results(r)[lost] == "unreachable" for r in progress)
    command = report["finish_command"]
    assert "smtp_rotate_version" in command and '"3"' in command and command in run.output
    assert secrets[3] not in command

    # Back again: the command the report gave finishes the rollout, storing nothing.
    knobs.clear(lost)
    done = _run_command(rotation, command)
    assert done.rc == 0, done.output[-4000:]
    assert rotation.vault_version() == 3
    report = rotation.report()
    assert report["state"] == "done" and report["stored"] is False and report["finish_command"] is None
    assert _results(report) == {**{h: "unchanged" for h in hosts if h != lost}, lost: "rotated"}
    assert all(set(v.values()) == {"3"} for v in rotation.versions().values())
