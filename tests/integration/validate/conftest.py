# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the smtp_validate role on the lab: Vault seeding, playbook runs, host knobs.

The suite runs on a shared lab that earlier tests may have used, so it assumes nothing:
it seeds Vault itself, resets the stand-ins around every run, and clears every knob it set.
Several checks share one playbook run (module-scoped fixtures) to keep the suite short.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab.core import REPO

PLAYBOOK = REPO / "playbooks" / "validate.yml"
# Short enough to keep the fault cases quick, long enough for 50 ms of added latency per packet.
TIMEOUT = 3
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def report(self) -> dict:
        return json.loads((self.report_dir / "report.json").read_text())

    def records(self) -> dict:
        """(host, port) -> record."""
        return {(r["host"], r["port"]): r for r in self.report["records"]}

    def recap(self) -> dict:
        """host -> {ok, changed, unreachable, failed} from the PLAY RECAP."""
        return {m[0]: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m[1:])))
                for m in RECAP.findall(self.stdout)}

    def explain(self) -> str:
        return f"rc={self.rc}\n--- stdout (tail)\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-3000:]}"


@pytest.fixture(scope="session")
def vault_vars(lab) -> Path:
    """The seeded vars file (mailops_smtp_vault, mailops_smtp_vault_oauth, CA); seeding is idempotent."""
    from tests.lab.vaultseed import seed
    return seed(lab.state)


@pytest.fixture(scope="session")
def validate(lab, vault_vars):
    """Run playbooks/validate.yml on the lab; returns a Run."""
    def run(report_dir: Path, *args: str, extra_vars: dict | None = None, inventories=(), timeout=300) -> Run:
        cmd = []
        for inv in inventories:
            cmd += ["-i", str(inv)]
        cmd += [str(PLAYBOOK), "-e", f"@{vault_vars}", "-e", f"smtp_validate_report_dir={report_dir}",
                "-e", f"smtp_validate_timeout={TIMEOUT}"]
        if extra_vars:
            # As JSON: lab passwords contain quotes and '$' on purpose.
            cmd += ["-e", json.dumps(extra_vars)]
        proc = lab.ansible([*cmd, *args], timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr, Path(report_dir))
    return run


class ModuleKnobs:
    """The `knobs` fixture for a whole module: several tests read one run made under these faults."""

    def __init__(self, lab):
        self._lab = lab
        self._touched: set[str] = set()

    def __getattr__(self, name):
        fn = getattr(self._lab, name)

        def call(host, *a, **kw):
            self._touched.add(host)
            return fn(host, *a, **kw)
        return call

    def clear_all(self) -> None:
        for host in sorted(self._touched):
            self._lab.clear(host)
        self._touched.clear()


@pytest.fixture(scope="module")
def module_knobs(lab):
    k = ModuleKnobs(lab)
    yield k
    k.clear_all()


@pytest.fixture(scope="module")
def fresh_standins(standins):
    """The stand-ins as configured (no faults, zeroed counters) for the module's runs, and after."""
    standins.control.reset()
    yield standins
    standins.control.reset()


def host_names(lab, n: int) -> list[str]:
    names = [h["name"] for h in lab.hosts]
    if len(names) < n:
        pytest.fail(f"these tests need a lab of at least {n} hosts, this one has {len(names)}: "
                    f"bring it up with `python -m tests.lab up --hosts {n}` (LAB_HOSTS in tests/run_all.sh)")
    return names[:n]


def free_lab_address(lab) -> str:
    """An address inside the lab's subnet that no namespace holds: SSH to it finds no host."""
    net = ipaddress.ip_network(lab.state["subnet"])
    used = {ipaddress.ip_address(a) for a in lab.state["addresses"].values()}
    used |= {ipaddress.ip_address(h["ip"]) for h in lab.hosts}
    candidate = max(used) + 1
    if candidate not in net or candidate == net.broadcast_address or candidate in used:
        pytest.fail(f"no free address left in {net} for the unreachable host")
    return str(candidate)


def write_ghost_inventory(lab, path: Path, name: str = "ghost") -> Path:
    """An extra inventory with one host at a lab address nobody answers on."""
    path.write_text(json.dumps({"all": {"children": {"unreachable": {"hosts": {
        name: {"ansible_host": free_lab_address(lab)}}}}}}, indent=2) + "\n")
    return path
