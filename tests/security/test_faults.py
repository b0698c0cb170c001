# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault suite additions (issue 9, section 3): interrupted writes and a full disk.

The Vault, token-endpoint and SMTP fault table is covered by the feature suites (see
docs/security.md for the map); this module adds what they lack:
  * 20 SIGKILLs at random points of a configure run, of ansible-playbook and of the module on
    the host: every config file is then the old or the new one, and the next run removes the
    candidates left behind;
  * a config directory on a full tmpfs: a clear error, the old file intact, no candidate left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HOST = "host3"
RC = "/etc/msmtprc"
TMP_PREFIX = ".mailops-smtp-tmp-"
KILLS = 20
DISK_DIR = "/srv/mailops-sec-disk"


def _private(path: Path, data: dict) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return path


def _sha(lab, path: str) -> str | None:
    p = lab.host_run(HOST, ["sha256sum", path], check=False)
    return p.stdout.split()[0] if p.returncode == 0 else None


def _candidates(lab, directory: str) -> list[str]:
    return sorted(lab.host_run(HOST, ["find", directory, "-maxdepth", "1", "-name", TMP_PREFIX + "*"]).stdout.split())


def _module_pids(lab) -> list[int]:
    """The python processes Ansible runs in the host (its mount namespace), by pid."""
    mine = os.readlink(f"/proc/{lab.host(HOST)['pid']}/ns/mnt")
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") != mine:
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"python3" in cmd:
            pids.append(int(pid))
    return pids


class Playbook:
    def __init__(self, lab, scratch: Path):
        self.lab, self.scratch = lab, scratch
        self.exe = str(Path(sys.executable).parent / "ansible-playbook")

    def argv(self, name: str, role_vars: dict, playbook="mailops.smtp.configure") -> list[str]:
        f = _private(self.scratch / f"{name}.json", role_vars)
        return [self.exe, "-i", str(self.lab.inventory), playbook, "-l", HOST, "-e", f"@{f}"]

    def env(self):
        return dict(self.lab.env, ANSIBLE_NOCOLOR="1")

    def run(self, name, role_vars, playbook="mailops.smtp.configure"):
        return subprocess.run(self.argv(name, role_vars, playbook), capture_output=True, text=True, env=self.env(),
                              cwd=str(self.lab.dir), timeout=300, check=False)

    def start(self, name, role_vars):
        return subprocess.Popen(self.argv(name, role_vars), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env(), cwd=str(self.lab.dir), start_new_session=True)


@pytest.fixture
def msmtp_host(lab):
    """host3's /etc/msmtprc as it was, put back afterwards."""
    old = lab.host_run(HOST, ["cat", RC], check=False)
    yield
    cleanup = f"rm -f {RC}.*~ /etc/{TMP_PREFIX}msmtprc*"
    if old.returncode == 0:
        lab.host_run(HOST, ["sh", "-c", f'cat > {RC}; {cleanup}'], input=old.stdout)
    else:
        lab.host_run(HOST, ["sh", "-c", f"rm -f {RC}; {cleanup}"])


def test_twenty_random_kills_leave_old_or_new_and_the_next_run_cleans_up(lab, standins, msmtp_host,
                                                                         tmp_path):
    pb = Playbook(lab, tmp_path)
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    passwords = [standins.password, "Second-" + os.urandom(8).hex()]

    def role_vars(i):
        return {"smtp_configure_ca_path": lab.ca, "smtp_configure_preflight": False,
                "smtp_configure_install_packages": False,
                "smtp_configure_credential": {"type": "basic", "username": standins.mailbox,
                                              "password": passwords[i % 2]},
                "smtp_configure_apps": [{"preset": "msmtp"}]}

    # The two files a run can leave: one per password.
    hashes, took = [], 0.0
    for i in (0, 1):
        t0 = time.monotonic()
        r = pb.run(f"full-{i}", role_vars(i))
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout[-3000:]
        hashes.append(_sha(lab, RC))
    assert hashes[0] != hashes[1]

    mid_module, outcomes = 0, []
    for i in range(KILLS):
        current = _sha(lab, RC)
        assert current in hashes
        proc = pb.start(f"kill-{i}", role_vars(hashes.index(current) + 1))
        if i % 2:
            # Anywhere in a run's lifetime: before, during or after the module's write.
            deadline = time.monotonic() + rng.uniform(0.1, took)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
        else:
            # At a random point of the module's own run on the host.
            deadline = time.monotonic() + took + 5
            while not _module_pids(lab) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
        modules = _module_pids(lab)
        for pid in modules:  # the module first: then it cannot finish its write after the controller dies
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        mid_module += bool(modules)
        after = _sha(lab, RC)
        outcomes.append("new" if after != current else "old")
        assert after in hashes, f"kill {i}: {RC} is neither the old nor the new file"

    leftovers = _candidates(lab, "/etc")
    final = pb.run("final", role_vars(0))
    assert final.returncode == 0, final.stdout[-3000:]
    assert _sha(lab, RC) == hashes[0]
    assert _candidates(lab, "/etc") == []
    print(f"interrupted writes: {KILLS} kills, {mid_module} while a module ran on the host, "
          f"outcomes {outcomes.count('old')} old / {outcomes.count('new')} new, "
          f"{len(leftovers)} candidate(s) left before the cleaning run")
    assert mid_module >= 3, "too few kills landed while a module ran on the host"


def test_full_disk_gives_a_clear_error_and_keeps_the_old_file(lab, standins, knobs, tmp_path):
    old = "# application settings\nKEEP=1\n"
    lab.host_run(HOST, ["sh", "-c", f'rm -rf {DISK_DIR}; mkdir -p {DISK_DIR}; cat > {DISK_DIR}/app.env'],
                 input=old)
    try:
        knobs.small_disk(HOST, DISK_DIR, "64k")
        # Fill what is left, so that not even a small candidate fits.
        lab.host_run(HOST, ["sh", "-c", f"dd if=/dev/zero of={DISK_DIR}/filler bs=1k 2>/dev/null; true"])
        before = _sha(lab, f"{DISK_DIR}/app.env")
        play = tmp_path / "disk.yml"
        play.write_text(json.dumps([{"hosts": HOST, "gather_facts": False, "tasks": [{
            "name": "Write settings into a full directory",
            "mailops.smtp.settings": {
                "format": "env", "path": f"{DISK_DIR}/app.env",
                "keys": {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER",
                         "password": "SMTP_PASSWORD"},
                "smtp": {"profile": "m365"}, "credential": "{{ cred }}"}}]}]))
        r = Playbook(lab, tmp_path).run("disk", {"cred": {"type": "basic", "username": standins.mailbox,
                                                          "password": standins.password}}, str(play))
        out = r.stdout + r.stderr
        assert r.returncode != 0, out[-3000:]
        assert "No space left on device" in out and f"free space in {DISK_DIR}" in out, out[-3000:]
        assert "MODULE FAILURE" not in out and "Traceback" not in out
        assert standins.password not in out
        assert _sha(lab, f"{DISK_DIR}/app.env") == before
        assert lab.host_run(HOST, ["cat", f"{DISK_DIR}/app.env"]).stdout == old
        assert _candidates(lab, DISK_DIR) == []
    finally:
        lab.unmount(HOST, DISK_DIR)
        lab.host_run(HOST, ["rm", "-rf", DISK_DIR], check=False)
