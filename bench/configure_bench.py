#!/usr/bin/env python
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of a no-op smtp_configure run beside ansible.builtin.ping over the same hosts (issue 18).

    .venv/bin/python bench/configure_bench.py [--hosts 10,25,50] [--apps 1,3,6] [--runs 5] [--forks 25]
                                              [--state-dir .lab-bench-configure] [--keep-lab] [--update-doc]

Brings up a lab of max(--hosts) hosts under --state-dir (unless one is already up there). For each N and
each number of apps a host, one configure run writes the apps (not timed); then, in each of --runs rounds,
(a) ansible.builtin.ping and (b) the same configure playbook again, a run with nothing to change, run one
after the other over the same N hosts with the same ansible.cfg (the lab's) and --forks. Each run is timed
around the ansible-playbook process. A (b) run counts only when it exits 0, changes nothing on any host and
logs in nowhere (the stand-in's counters). Medians go to stdout and bench/results/configure.json;
--update-doc rewrites the block in docs/performance.md. The target: (b) at most 2 x (a) with 3 apps a host.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, add_lab_options, dispatch, update_doc_block, write_private

RESULTS = REPO / "bench" / "results" / "configure.json"
RUN_TIMEOUT = 900
TARGET_RATIO = 2.0
TARGET_APPS = 3
PING_PLAY = """
- name: The floor, Ansible's own cost per host
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""
DIR = "/root/mailops-bench"
# The apps a host gets, the first --apps of them: generic formats, msmtp, and Django (system trust only).
APPS = [
    {"name": "env", "format": "env", "path": f"{DIR}/app.env",
     "keys": {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER", "password": "SMTP_PASSWORD"}},
    {"name": "ini", "format": "ini", "section": "mail", "path": f"{DIR}/app.ini",
     "keys": {"host": "host", "username": "user", "password": "password"}},
    {"name": "msmtp", "preset": "msmtp"},
    {"name": "properties", "format": "properties", "path": f"{DIR}/app.properties",
     "keys": {"host": "mail.host", "username": "mail.user", "password": "mail.password"}},
    {"name": "json", "format": "json", "path": f"{DIR}/app.json",
     "keys": {"host": "smtp.host", "username": "smtp.user", "password": "smtp.password"}},
    {"name": "django", "preset": "django", "path": f"{DIR}/smtp_settings.py", "smtp": {"ca_path": None}},
]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def timed(cmd: list[str], env: dict) -> dict:
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=RUN_TIMEOUT,
                       check=False)
    return {"rc": p.returncode, "seconds": round(time.monotonic() - t0, 3), "out": p.stdout + p.stderr}


class Bench:
    def __init__(self, lab, work: Path, forks: int):
        from tests.lab.standins.control import StandinControl
        self.lab = lab
        self.work = work
        self.forks = forks
        self.control = StandinControl(lab.state["standins"]["control_socket"])
        self.env = dict(lab.env, ANSIBLE_NOCOLOR="1")
        self.mailbox = lab.state["standins"]["mailbox"]
        cfg = json.loads(Path(lab.state["standins"]["config"]).read_text())
        self.password = cfg["mailboxes"][self.mailbox]["passwords"][0]
        (work / "ping.yml").write_text(PING_PLAY)
        self.playbook = str(Path(sys.executable).parent / "ansible-playbook")

    def vars_file(self, apps: int) -> Path:
        f = self.work / f"configure-{apps}.json"
        if not f.exists():
            write_private(f, json.dumps({
                "smtp_configure_ca_path": self.lab.ca, "smtp_configure_install_packages": False,
                "smtp_configure_credential": {"type": "basic", "username": self.mailbox, "password": self.password},
                "smtp_configure_apps": APPS[:apps]}))
        return f

    def command(self, variant: str, hosts: list[str], apps: int) -> list[str]:
        common = ["-i", str(self.lab.inventory), "--forks", str(self.forks), "--limit", ",".join(hosts)]
        if variant == "ping":
            return [self.playbook, *common, str(self.work / "ping.yml")]
        return [self.playbook, *common, "mailops.smtp.configure", "-e", f"@{self.vars_file(apps)}"]

    def prepare_hosts(self, hosts: list[str]) -> None:
        for h in hosts:
            self.lab.host_run(h, ["sh", "-c", f"rm -rf {DIR} /etc/msmtprc && mkdir -p {DIR}"])

    def logins(self) -> int:
        c = self.control.counters()["mailboxes"].get(self.mailbox.lower(), {})
        return c.get("auth_ok", 0) + c.get("auth_fail", 0)

    def run(self, variant: str, hosts: list[str], apps: int) -> dict:
        before = self.logins()
        r = timed(self.command(variant, hosts, apps), self.env)
        r["invalid"] = self.check(variant, r, hosts, self.logins() - before)
        r.pop("out")
        return r

    @staticmethod
    def check(variant: str, r: dict, hosts: list[str], logins: int) -> str | None:
        if r["rc"] != 0:
            return f"exit {r['rc']}: {r['out'][-600:]}"
        recap = {m.group(1): m.groups()[1:] for m in RECAP.finditer(r["out"])}
        if sorted(recap) != sorted(hosts):
            return f"{len(recap)} hosts in the recap, not {len(hosts)}"
        if variant == "configure":
            changed = [h for h, (_ok, ch, _u, _f) in recap.items() if int(ch)]
            if changed:
                return f"not a no-op run: {len(changed)} hosts changed"
            if logins:
                return f"{logins} logins at the stand-in in a no-op run"
        return None


def inner(args) -> int:
    from tests.lab.fixtures import LabHandle
    lab = LabHandle.load()
    names = [h["name"] for h in lab.hosts]
    raw: dict = {}
    with tempfile.TemporaryDirectory(prefix="configure-bench-") as tmp:
        bench = Bench(lab, Path(tmp), args.forks)
        for n in args.hosts:
            hosts = names[:n]
            for apps in args.apps:
                bench.prepare_hosts(hosts)
                first = timed(bench.command("configure", hosts, apps), bench.env)
                if first["rc"] != 0:
                    raise SystemExit(f"bench: the first configure run failed: {first['out'][-2000:]}")
                rows = {"ping": [], "configure": []}
                for i in range(args.runs):
                    for v in ("ping", "configure"):
                        r = bench.run(v, hosts, apps)
                        rows[v].append(r)
                        flag = f" INVALID: {r['invalid']}" if r["invalid"] else ""
                        print(f"bench: N={n} apps={apps} {v} run {i + 1}: {r['seconds']:.2f} s{flag}", flush=True)
                raw[f"{n}x{apps}"] = {"hosts": n, "apps": apps, "first_run_seconds": first["seconds"], "rows": rows}
    report = summarise(raw, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": report, "raw": raw}, indent=2) + "\n")
    text = render(report)
    print(text)
    if args.update_doc:
        update_doc_block("configure-bench", text, heading="A configure run with nothing to change")
    return 1 if report["invalid_runs"] or not report["target_met"] else 0


def _median(values: list) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summarise(raw: dict, args) -> dict:
    out = {"forks": args.forks, "runs": args.runs, "rows": [], "invalid_runs": 0, "target_met": True}
    for row in raw.values():
        med = {}
        for v, runs in row["rows"].items():
            good = [r["seconds"] for r in runs if not r["invalid"]]
            out["invalid_runs"] += len(runs) - len(good)
            med[v] = _median(good)
        ratio = round(med["configure"] / med["ping"], 2) if med["configure"] and med["ping"] else None
        if row["apps"] == TARGET_APPS and (ratio is None or ratio > TARGET_RATIO):
            out["target_met"] = False
        out["rows"].append({"hosts": row["hosts"], "apps": row["apps"], "ping": med["ping"],
                            "configure": med["configure"], "ratio": ratio,
                            "first_run": row["first_run_seconds"]})
    return out


def render(report: dict) -> str:
    lines = [f"Medians of {report['runs']} runs, forks {report['forks']}, seconds around `ansible-playbook`; "
             f"the target is a ratio of at most {TARGET_RATIO} with {TARGET_APPS} apps a host.", "",
             "| hosts | apps a host | ping | configure, nothing to change | ratio | first run (writes, logs in) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['hosts']} | {r['apps']} | {r['ping']} | {r['configure']} | {r['ratio']} | "
                     f"{r['first_run']} |")
    if report["invalid_runs"]:
        lines += ["", f"{report['invalid_runs']} runs did not count (see bench/results/configure.json)."]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=_ints, default=[10, 25, 50])
    ap.add_argument("--apps", type=_ints, default=[1, 3, 6])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--forks", type=int, default=25)
    add_lab_options(ap, ".lab-bench-configure")
    args = ap.parse_args(argv)
    if not set(args.apps) <= set(range(1, len(APPS) + 1)):
        ap.error(f"--apps: from 1 to {len(APPS)}")
    return dispatch(inner, args, argv, __file__, max(args.hosts))


if __name__ == "__main__":
    sys.exit(main())
