# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.migrate when a host is lost in the middle of its move (issue 21, "never half-done, always
reported"): three lab hosts with msmtp on basic auth (native XOAUTH2 after the move), one host per batch, the
first the canary. A host that answered the reach, was planned and locked like the others refuses SSH (a TCP
reset, as a host that went down) as soon as its move has saved its files. Three runs, in file order:

1. the defaults (smtp_migrate_unreachable=stop, max_fail_percentage 0), the canary lost after its proofs (before
   its saved copy is deleted) and the second host lost: the canary moved and proven, its entry naming the copy
   left, why, and the command that deletes it; the lost host `unreachable` (not moved, not restored) with where its
   saved copy is left and how to put it back, the third host not attempted; the locks released; the run fails
   naming them;
2. the host back, its saved copy still there: its move is refused before anything is written (its files may be
   part-way moved), saying how to put the copy back; the copy's put-back command from the report restores its
   files byte for byte;
3. with smtp_migrate_unreachable=skip, the third host lost: the second moves and is proven, the third is reported
   `unreachable` the same way, the canary changes nothing but its entry names the copy run 1 left (its plan is
   unchanged: the copy is still looked for); the report's command deletes it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import uuid

import pytest

from .conftest import Migration, _reset_hosts
from .test_migrate_failures import STATE_DIR, differences, hosts_of, records, saved_copies


@pytest.fixture(scope="module")
def fleet(lab, standins, tmp_path_factory):
    hosts = [h["name"] for h in lab.hosts[:3]]
    assert len(hosts) == 3, "the lost-host test needs a lab of at least 3 hosts"
    tag = uuid.uuid4().hex[:10]
    # Each host's smtp_configure_apps in the test's inventory source (Migration.inventory), not in -e.
    mig = Migration(lab, standins, tmp_path_factory.mktemp("migrate-lost"), hosts,
                    f"smtp/lost-basic-{tag}", f"smtp/lost-oauth-{tag}", apps={h: [{"preset": "msmtp"}] for h in hosts})
    mig.secrets += [standins.password, standins.app.secret]
    mains = {h: {"main": lab.host_run(h, ["cat", "/etc/postfix/main.cf"]).stdout,
                 "master": lab.host_run(h, ["cat", "/etc/postfix/master.cf"]).stdout} for h in hosts}
    _reset_hosts(lab, hosts, mains)
    mig.store_credentials()
    try:
        configured = mig.run(playbook="mailops.smtp.configure")
        assert configured.rc == 0, configured.output[-4000:]
        yield mig
    finally:
        for h in hosts:
            lab.clear(h)
        _reset_hosts(lab, hosts, mains)
        mig.forget_credentials()


# The step of the move that proves each application; the next steps until the saved copy is deleted run on the
# controller only.
PROOF_TASK = "Prove each application's delivery with a real message through its new path"


def cut_after_proofs(lab, host: str, cut: threading.Event):
    """An on_line for Migration.run: the host refuses SSH as soon as its proofs returned, before the move deletes
    its saved copy. The run is held (SIGSTOP) while the cut is made, so that it cannot reach the deletion first."""
    task = {"name": ""}

    def on_line(line: str, process) -> None:
        if line.startswith("TASK ["):
            task["name"] = line
        elif (not cut.is_set() and PROOF_TASK in task["name"]
              and line.startswith((f"ok: [{host}]", f"changed: [{host}]"))):
            os.kill(process.pid, signal.SIGSTOP)
            try:
                lab.ssh_down(host)
                cut.set()
            finally:
                os.kill(process.pid, signal.SIGCONT)
    return on_line


def run_losing(fleet, lost: str, proven: str | None = None, **role_vars):
    """One migrate run; the lost host refuses SSH once its move saved its files (a saved copy appears in the
    state directory), and the proven host (if any) once its proofs returned. Returns the run and whether the
    cuts happened."""
    stop, cut, cut_proven = threading.Event(), threading.Event(), threading.Event()

    def watch():
        while not stop.is_set():
            if saved_copies(fleet.lab, lost):
                fleet.lab.ssh_down(lost)
                cut.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = fleet.run(on_line=cut_after_proofs(fleet.lab, proven, cut_proven) if proven else None, **role_vars)
    finally:
        stop.set()
        watcher.join(10)
    return run, cut.is_set() and (proven is None or cut_proven.is_set())


def lost_copy(report: dict, host: str) -> str:
    """The saved copy a lost host's entry names."""
    found = re.findall(re.escape(STATE_DIR) + r"/[^\s:;,']+", hosts_of(report)[host]["message"])
    assert found, hosts_of(report)[host]["message"]
    return found[0]


@pytest.fixture(scope="module")
def lost_with_stop(lab, fleet):
    """Run 1: the defaults, the canary lost after its proofs, the second host lost during its move."""
    canary, lost = fleet.hosts[:2]
    before = records(lab, fleet.hosts)
    run, cut = run_losing(fleet, lost, proven=canary)
    assert cut, "a host was not cut at its step (its proofs, or the save): " + run.output[-4000:]
    return {"run": run, "before": before, "report": fleet.report(),
            "markdown": (fleet.scratch / "report" / "migration.md").read_text(), "left": saved_copies(lab, lost),
            "canary_left": saved_copies(lab, canary)}


@pytest.fixture(scope="module")
def refused_while_copy(lab, fleet, lost_with_stop):
    """Run 2: the lost hosts back, their saved copies still there."""
    lab.clear(fleet.hosts[0])
    lab.clear(fleet.hosts[1])
    before = records(lab, fleet.hosts)
    run = fleet.run()
    return {"run": run, "before": before, "after": records(lab, fleet.hosts), "report": fleet.report()}


@pytest.fixture(scope="module")
def lost_with_skip(lab, fleet, refused_while_copy):
    """Run 3: the saved copy put back with the report's commands, then skip, the third host lost."""
    lost = fleet.hosts[2]
    run, cut = run_losing(fleet, lost, smtp_migrate_unreachable="skip")
    assert cut, "the lost host's move never saved its files: " + run.output[-4000:]
    return {"run": run, "report": fleet.report(), "left": saved_copies(lab, lost),
            "canary_left": saved_copies(lab, fleet.hosts[0])}


def assert_lost(report: dict, markdown: str, host: str) -> None:
    """Not moved, not proven, not restored: the entry says the host was lost and how to put its files back."""
    entry = hosts_of(report)[host]
    assert entry["status"] == "unreachable" and entry["restored_files"] == [], entry
    assert [a["proof_accepted"] for a in entry["apps"]] == [None], entry["apps"]
    assert "lost during its move" in entry["message"] and "were not put back" in entry["message"], entry["message"]
    assert "mailops.smtp.file_snapshot" in entry["message"] and "state=restored" in entry["message"]
    assert f"{host} (unreachable)" in report["message"] and "part-way moved" in report["message"], report["message"]
    assert f"- {host} (unreachable): {entry['message']}" in markdown, markdown
    # Its file still holds the password as far as the report can tell: listed, and nothing is retirable.
    assert (host, "/etc/msmtprc") in {(f["host"], f["path"]) for f in report["password_files"]}
    assert report["retirable_credentials"] == []


def assert_copy_left_after_proofs(report: dict, markdown: str, host: str, copy: str) -> None:
    """Moved and proven, but lost before its saved copy was deleted: the entry names the copy, why, and the
    command that deletes it (nothing to put back), and the run's message names the host."""
    entry = hosts_of(report)[host]
    assert entry["status"] == "moved" and entry["saved_copies"] == [copy] and entry["lost_after_move"], entry
    message = entry["message"] or ""
    assert message.startswith(f"{host}: moved and proven, but the saved copy of its previous files (they hold the "
                              f"old passwords) is left in {copy}: it stopped answering"), message
    assert f"ansible {host} -b -m mailops.smtp.file_snapshot -a 'path={copy} state=absent'" in message, message
    assert "state=restored" not in message, message
    assert f"{host} still holds a saved copy of previous files with the old passwords" in report["message"], \
        report["message"]
    assert f"- {host} (moved): {message}" in markdown, markdown


def assert_on_xoauth2(lab, host: str) -> None:
    msmtprc = lab.host_run(host, ["cat", "/etc/msmtprc"]).stdout
    # Booleans only: pytest would show the file, which may hold the password, in a failed comparison.
    moved = "auth xoauth2" in msmtprc and re.search(r"^\s*password\s", msmtprc, re.M) is None
    assert moved, f"{host}'s msmtprc is not on XOAUTH2, or still holds a password"


def assert_proven(report: dict, *hosts: str) -> None:
    for host in hosts:
        apps = hosts_of(report)[host]["apps"]
        assert [(a["proof_kind"], a["proof_accepted"]) for a in apps] == [("app_command", True)], apps


def test_with_stop_a_host_lost_during_its_move_is_reported_and_the_batches_stop(lab, fleet, lost_with_stop):
    run, report = lost_with_stop["run"], lost_with_stop["report"]
    canary, lost, last = fleet.hosts
    assert run.rc == 2, (run.rc, run.output[-5000:])
    assert f"canary: {canary}" in run.output, run.output[-5000:]
    statuses = {h: e["status"] for h, e in hosts_of(report).items()}
    assert statuses == {canary: "moved", lost: "unreachable", last: "not_run"}, statuses
    assert report["state"] == "stopped" and f"{last} (not_run)" in report["message"], report["message"]
    assert_proven(report, canary)
    assert_lost(report, lost_with_stop["markdown"], lost)
    # The saved copy the lost host could not delete (it holds the old password): this run's, named.
    assert len(lost_with_stop["left"]) == 1 and lost_with_stop["left"][0] in lost_copy(report, lost)
    assert_on_xoauth2(lab, canary)
    assert saved_copies(lab, last) == []
    assert_copy_left_after_proofs(report, lost_with_stop["markdown"], canary, lost_copy(report, lost))
    assert lost_with_stop["canary_left"] == lost_with_stop["left"]
    assert fleet.lock(fleet.basic_path)["state"] == "released"
    assert fleet.lock(fleet.oauth_path)["state"] == "released"


def test_a_host_with_an_interrupted_move_is_refused_until_its_copy_is_put_back(
        lab, fleet, lost_with_stop, refused_while_copy):
    canary, lost, last = fleet.hosts
    run, report = refused_while_copy["run"], refused_while_copy["report"]
    assert run.rc == 2, (run.rc, run.output[-5000:])
    statuses = {h: e["status"] for h, e in hosts_of(report).items()}
    assert statuses == {canary: "not_run", lost: "failed", last: "not_run"}, statuses
    message = hosts_of(report)[lost]["message"]
    copy = lost_copy(lost_with_stop["report"], lost)
    assert "lost during an earlier move" in message and copy in message and "Nothing was changed" in message, message
    # Refused before anything was written: every file as before this run, the copy still there.
    before, after = refused_while_copy["before"], refused_while_copy["after"]
    assert {h: differences(before[h], after[h]) for h in fleet.hosts} == {h: {} for h in fleet.hosts}
    assert fleet.lock(fleet.oauth_path)["state"] == "released"

    # The report's commands put the previous files back (as before the first run, byte for byte) and delete it.
    for state in ("restored", "absent"):
        done = lab.ansible([lost, "-m", "mailops.smtp.file_snapshot", "-a", f"path={copy} state={state}"],
                           tool="ansible")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert differences(lost_with_stop["before"][lost], records(lab, [lost])[lost]) == {}
    assert saved_copies(lab, lost) == []


def test_with_skip_the_others_move_and_the_lost_host_is_reported(lab, fleet, lost_with_stop, refused_while_copy,
                                                                 lost_with_skip):
    canary, first, lost = fleet.hosts
    run, report = lost_with_skip["run"], lost_with_skip["report"]
    assert run.rc == 2, (run.rc, run.output[-5000:])
    statuses = {h: e["status"] for h, e in hosts_of(report).items()}
    assert statuses == {canary: "unchanged", first: "moved", lost: "unreachable"}, statuses
    assert report["state"] == "unreachable", report
    assert_proven(report, first)
    assert_lost(report, (fleet.scratch / "report" / "migration.md").read_text(), lost)
    assert len(lost_with_skip["left"]) == 1 and lost_with_skip["left"][0] in lost_copy(report, lost)
    assert_on_xoauth2(lab, first)
    assert saved_copies(lab, first) == []
    # The canary has nothing to move, but the copy run 1 left on it is found and named with its commands.
    assert_on_xoauth2(lab, canary)
    entry, copy = hosts_of(report)[canary], lost_copy(lost_with_stop["report"], canary)
    assert entry["saved_copies"] == [copy] and lost_with_skip["canary_left"] == lost_with_stop["canary_left"], entry
    assert entry["message"].startswith(f"{canary}: nothing to move, but an earlier move that lost this host left "
                                       f"the saved copy"), entry["message"]
    assert f"{canary} still holds a saved copy" in report["message"], report["message"]
    delete = re.search(r"ansible (\S+) -b -m mailops\.smtp\.file_snapshot -a 'path=(\S+) state=absent'",
                       entry["message"])
    assert delete and delete.groups() == (canary, copy), entry["message"]
    done = lab.ansible([canary, "-m", "mailops.smtp.file_snapshot", "-a", f"path={copy} state=absent"],
                       tool="ansible")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert saved_copies(lab, canary) == []
    assert fleet.lock(fleet.basic_path)["state"] == "released"
    assert fleet.lock(fleet.oauth_path)["state"] == "released"
