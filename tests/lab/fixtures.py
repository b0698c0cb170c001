# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What integration tests see of the lab: its state and ways to act in it.

Integration tests run inside the lab's controller namespace (`.lab/ctl-exec`),
so every address they use is a lab address or loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import knobs
from .core import REPO
from .sysutil import in_host


def in_controller_namespace(state: dict) -> bool:
    """True when this process runs in the lab's controller network namespace."""
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat(f"/run/netns/{state['ctl_ns']}").st_ino
    except OSError:
        return False


def require_controller_namespace(state: dict) -> None:
    # Outside it, lab names would be looked up with the machine's own resolver
    # and lab addresses would meet the root namespace's routes: never allowed.
    if not in_controller_namespace(state):
        raise RuntimeError(
            f"lab tests must run inside the lab's controller namespace: prefix the command with "
            f"{state['state_dir']}/ctl-exec (make test does)")


@dataclass
class LabHandle:
    state: dict
    dir: Path
    inventory: Path
    env: dict = field(default_factory=dict)

    @classmethod
    def load(cls) -> "LabHandle":
        d = Path(os.environ.get("MAILOPS_LAB_STATE", REPO / ".lab"))
        state = json.loads((d / "lab.json").read_text())
        require_controller_namespace(state)
        inventory = Path(os.environ.get("MAILOPS_LAB_INVENTORY", d / "inventory.yml"))
        env = dict(os.environ)
        for line in (d / "env").read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
        return cls(state=state, dir=d, inventory=inventory, env=env)

    @property
    def hosts(self) -> list[dict]:
        return self.state["hosts"]

    def host(self, name: str) -> dict:
        return knobs._host(self.state, name)

    @property
    def ca(self) -> str:
        return self.state["pki"]["ca"]

    def addr(self, role: str) -> str:
        return self.state["addresses"][role]

    def host_run(self, name: str, cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        """Run a command inside a lab host (its network, mounts and hostname)."""
        return subprocess.run(in_host(self.host(name)["pid"], cmd), capture_output=True, text=True,
                              check=check, timeout=kw.pop("timeout", 60), **kw)

    def host_python(self, name: str, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.host_run(name, [self.host(name)["python"], "-c", code], timeout=timeout)

    def ansible(self, args: list[str], *, tool: str = "ansible-playbook", timeout: float = 600,
                extra_env: dict | None = None) -> subprocess.CompletedProcess:
        import sys
        exe = str(Path(sys.executable).parent / tool)
        env = dict(self.env)
        env.update(extra_env or {})
        return subprocess.run([exe, "-i", str(self.inventory), *args], capture_output=True, text=True,
                              env=env, cwd=str(REPO), timeout=timeout, check=False)

    # knobs, undone by the fixture that set them
    def firewall(self, host: str, port: int, action: str = "drop", dst: str | None = None) -> None:
        knobs.firewall(self.state, host, port, action, dst)

    def ssh_down(self, host: str) -> None:
        knobs.ssh_down(self.state, host)

    def latency(self, host: str, ms: int, peer: str | None = None) -> None:
        knobs.latency(self.state, host, ms, peer)

    def remove_name(self, host: str, name: str = "smtp.office365.com") -> None:
        knobs.remove_name(self.state, host, name)

    def readonly(self, host: str, path: str) -> None:
        knobs.readonly(self.state, host, path)

    def small_disk(self, host: str, path: str, size: str = "64k") -> None:
        knobs.small_disk(self.state, host, path, size)

    def unmount(self, host: str, path: str) -> None:
        knobs.unmount(self.state, host, path)

    def clear(self, host: str) -> None:
        knobs.clear(self.state, host)


class _KnobRecorder:
    """The lab's knob methods, remembering which hosts and mounts they touched."""

    _MOUNTS = ("readonly", "small_disk")

    def __init__(self, lab: LabHandle):
        self._lab = lab
        self.touched: set = set()
        self.mounts: list = []

    def __getattr__(self, name):
        fn = getattr(self._lab, name)

        def call(host, *a, **kw):
            self.touched.add(host)
            if name in self._MOUNTS:
                self.mounts.append((host, a[0] if a else kw["path"]))
            return fn(host, *a, **kw)
        return call


@contextmanager
def knob_session(lab: LabHandle):
    """Per-host faults for one test: mounts are undone, newest first, then touched hosts cleared.

    The body of the `knobs` fixture of tests/integration and tests/security.
    """
    rec = _KnobRecorder(lab)
    try:
        yield rec
    finally:
        for host, path in reversed(rec.mounts):
            lab.unmount(host, path)
        for host in rec.touched:
            lab.clear(host)
