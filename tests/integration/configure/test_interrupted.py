# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs killed in the middle of a write, on the controller and on the host: every file is then
the old one or the new one, never a mix, and the next run removes the leftover candidates.

The write is held at a known point by `validate` on main.cf: by then the SASL map and its
database are staged as candidates beside their targets, and main.cf's candidate is written.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

from .conftest import POSTFIX_FILES, sha256s, temp_files

HOST = "host1"
WAIT = 120


def hold_validate(pidfile: str, seconds: int) -> str:
    # shlex-split by the module; '$$' is the shell, which exec turns into the sleep.
    return f"/bin/sh -c 'echo $$ > {pidfile}; exec sleep {seconds}' mailops-validate %s"


def wait_for_pid(lab, pidfile: str, proc) -> int:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        p = lab.host_run(HOST, ["cat", pidfile], check=False)
        if p.returncode == 0 and p.stdout.strip():
            return int(p.stdout.strip())
        assert proc.poll() is None, "the run ended before it reached the write:\n" + proc.stdout.read()[-3000:]
        time.sleep(0.3)
    raise AssertionError("the run did not reach validate in time")


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + WAIT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not alive(pid), f"process {pid} is still running"


def interrupted(lab, configure, role_vars, kill_where: str) -> None:
    old = sha256s(lab, HOST, POSTFIX_FILES)
    pidfile = f"/tmp/mailops-configure-validate-{uuid.uuid4().hex}.pid"
    held = dict(role_vars, smtp_configure_apps=[{"preset": "postfix",
                                                 "validate": hold_validate(pidfile, 30 if kill_where == "host" else 8)}])
    proc = configure.start(HOST, held)
    try:
        sleeper = wait_for_pid(lab, pidfile, proc)
        module = parent_of(sleeper)
        mid = temp_files(lab, HOST, "/etc/postfix")
        assert mid, "no candidate beside the targets: the run was not in the middle of a write"
        assert sha256s(lab, HOST, POSTFIX_FILES) == old
        if kill_where == "host":
            os.kill(module, signal.SIGKILL)  # the module process on the host, by its pid
            os.kill(sleeper, signal.SIGKILL)
            proc.wait(timeout=WAIT)
            assert proc.returncode != 0
        else:
            os.killpg(proc.pid, signal.SIGKILL)  # ansible-playbook and its ssh clients
            proc.wait(timeout=WAIT)
            # Cut off from the controller, the module on the host may still finish its write.
            wait_gone(module)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT)
        lab.host_run(HOST, ["rm", "-f", pidfile], check=False)

    after_kill = sha256s(lab, HOST, POSTFIX_FILES)
    leftovers = temp_files(lab, HOST, "/etc/postfix")
    if kill_where == "host":
        assert leftovers, "a module killed mid-write cannot have cleaned up"

    final = configure.run(HOST, role_vars)
    assert final.rc == 0, final.output[-3000:]
    new = sha256s(lab, HOST, POSTFIX_FILES)
    assert new["/etc/postfix/main.cf"] != old["/etc/postfix/main.cf"]
    for path in POSTFIX_FILES:
        assert after_kill[path] in (old[path], new[path]), f"{path} is neither the old nor the new file"
    assert temp_files(lab, HOST, "/etc/postfix") == []


def test_killed_on_the_host(lab, configure, fresh_postfix, basic_cred, base_vars):
    interrupted(lab, configure, dict(base_vars, smtp_configure_credential=basic_cred,
                                     smtp_configure_apps=[{"preset": "postfix"}]), "host")


def test_killed_on_the_controller(lab, configure, fresh_postfix, basic_cred, base_vars):
    interrupted(lab, configure, dict(base_vars, smtp_configure_credential=basic_cred,
                                     smtp_configure_apps=[{"preset": "postfix"}]), "controller")
