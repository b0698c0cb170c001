#!/usr/bin/env python
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of fleet validation: our validate playbook beside Ansible's floor and what users write today.

    .venv/bin/python bench/validate_bench.py [--hosts 10,25,50] [--runs 3] [--forks 25]
                                             [--state-dir .lab-bench-validate] [--keep-lab] [--update-doc]

Brings up a lab of max(--hosts) hosts under --state-dir (unless one is already up there) and uses
.venv-ansible-pkg (the `ansible` package, which pins its own ansible-core; built from
bench/requirements-ansible-pkg.txt only when missing or stale, shared with vault_bench.py). Then, for each
N in --hosts, interleaving the variants in every round so that all see the same warm SSH masters:
  a         ansible.builtin.ping over the N hosts: Ansible's own cost per host, the floor
  b-465tls  playbooks/validate.yml, connectivity only (no AUTH), 465 serving implicit TLS
  b-m365    the same with the m365 profile as the stand-in plays it: 465 dropped
  c         what users write today, from the `ansible` package: wait_for 587, wait_for 465 and
            community.general.mail with AUTH, against the stand-in with its connection and message limits off
            and 465 serving (so that no wait_for waits out a timeout)
Each run is timed around the ansible-playbook process. Its process tree's memory is sampled from /proc
every 50 ms: the peak of the summed PSS (shared pages divided among the processes that share them; forks
share a lot), with the summed RSS (shared pages counted once per process) beside it. The largest single
process's peak RSS (ansible-playbook itself) is exact, from wait4(). Medians of --runs runs go to stdout
and bench/results/validate.json; --update-doc rewrites the block in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import (REPO, add_lab_options, dispatch, pkg_requirements, pkg_tool,
                     update_doc_block, write_private)

RESULTS = REPO / "bench" / "results" / "validate.json"
VARIANTS = ("a", "b-465tls", "b-m365", "c")
NAMES = {"a": "(a) ansible.builtin.ping", "b-465tls": "(b) validate, 465 serving TLS",
         "b-m365": "(b) validate, m365 (465 dropped)", "c": "(c) wait_for x2 + community.general.mail"}
# The probe's connect timeout for a port the profile expects not to be offered (465 on m365).
NOT_OFFERED_CONNECT_TIMEOUT = 2.0
RUN_TIMEOUT = 600
SAMPLE_SECONDS = 0.05

PING_PLAY = """
- name: The floor, Ansible's own cost per host
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""

# What a migration team writes today without this collection.
USERS_PLAY = """
- name: Can every host submit mail (the usual way)
  hosts: all
  gather_facts: false
  tasks:
    - name: Port 587 answers
      ansible.builtin.wait_for:
        host: smtp.office365.com
        port: 587
        timeout: 10
    - name: Port 465 answers
      ansible.builtin.wait_for:
        host: smtp.office365.com
        port: 465
        timeout: 10
    - name: Send a test message with AUTH
      community.general.mail:
        host: smtp.office365.com
        port: 587
        secure: starttls
        username: "{{ bench_user }}"
        password: "{{ bench_password }}"
        sender: "{{ bench_user }}"
        to: ["ops@contoso.com"]
        subject: "bench from {{ inventory_hostname }}"
        timeout: 10
"""


# -- inside the lab --------------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: the fields after the last ')' are fixed.
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _mem_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process; PSS shares each page among the processes that map it."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def tree_mem_kib(root: int) -> tuple[int, int]:
    """Summed (RSS, PSS) of root and all its descendants."""
    kids = _children()
    rss = pss = 0
    todo, seen = [root], set()
    for _step in range(100000):
        if not todo:
            break
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        r, p = _mem_kib(pid)
        rss, pss = rss + r, pss + p
        todo.extend(kids.get(pid, ()))
    return rss, pss


def measure(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Wall time, peak summed PSS/RSS of the process tree (sampled) and the largest process's exact peak RSS.

    The tree's peak is sampled, so it depends on how many forks happen to be alive at a sample. The
    largest single process (ansible-playbook itself, which keeps every host's results) is exact:
    wait4() returns the kernel's high-water mark of the child and the descendants it reaped.
    """
    peak = [0, 0]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    done = threading.Event()
    chunks: list[str] = []

    def sample():
        while not done.is_set():
            rss, pss = tree_mem_kib(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(SAMPLE_SECONDS)

    def read():
        chunks.append(proc.stdout.read())

    threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=read, daemon=True)]
    for t in threads:
        t.start()
    killer = threading.Timer(RUN_TIMEOUT, proc.kill)
    killer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    seconds = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    for t in threads:
        t.join(5)
    return {"rc": proc.returncode, "seconds": round(seconds, 3), "peak_rss_mib": round(peak[0] / 1024, 1),
            "peak_pss_mib": round(peak[1] / 1024, 1), "largest_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "tail": "".join(chunks)[-1500:]}


class Bench:
    def __init__(self, lab, standins_cfg: dict, work: Path, forks: int):
        from tests.lab.standins.control import StandinControl
        self.lab = lab
        self.work = work
        self.forks = forks
        self.control = StandinControl(lab.state["standins"]["control_socket"])
        self.env = dict(lab.env)
        self.env["ANSIBLE_NOCOLOR"] = "1"
        mailbox = self.mailbox = lab.state["standins"]["mailbox"]
        (work / "ping.yml").write_text(PING_PLAY)
        (work / "users.yml").write_text(USERS_PLAY)
        secrets_file = work / "users-vars.json"
        write_private(secrets_file, json.dumps({
            "bench_user": mailbox, "bench_password": standins_cfg["mailboxes"][mailbox]["passwords"][0]}))
        base = {"smtp_validate_auth_hosts": "none", "smtp_validate_max_fail_percentage": 100,
                "smtp_validate_ca_path": lab.ca}
        (work / "b-465tls.json").write_text(json.dumps(dict(base, smtp_validate_endpoint={
            "profile": "m365", "ports": [587, {"port": 465, "expect": "open"}]})))
        (work / "b-m365.json").write_text(json.dumps(dict(base, smtp_validate_endpoint="m365")))
        self.ours = str(Path(sys.executable).parent / "ansible-playbook")
        self.pkg = str(pkg_tool())

    def command(self, variant: str, hosts: list[str], report_dir: Path) -> list[str]:
        common = ["-i", str(self.lab.inventory), "--forks", str(self.forks), "--limit", ",".join(hosts)]
        if variant == "a":
            return [self.ours, *common, str(self.work / "ping.yml")]
        if variant == "c":
            return [self.pkg, *common, str(self.work / "users.yml"), "-e", f"@{self.work / 'users-vars.json'}"]
        return [self.ours, *common, str(REPO / "playbooks" / "validate.yml"),
                "-e", f"@{self.work / (variant + '.json')}", "-e", f"smtp_validate_report_dir={report_dir}"]

    def prepare(self, variant: str) -> None:
        self.control.reset()
        if variant in ("b-465tls", "c"):
            self.control.set_port_mode(465, "tls")
        if variant == "c":
            # What users write sends a message from every host at once; Microsoft 365 would
            # refuse all but 3 at a time and 30 a minute, so both limits are off for it.
            self.control.set_concurrency_limit(None)
            self.control.set_mailbox(self.mailbox, messages_per_minute=1_000_000)

    def check(self, variant: str, result: dict, hosts: list[str], report_dir: Path) -> str | None:
        """Why a run does not count, or None: every host must have been checked and passed."""
        if result["rc"] != 0:
            return f"exit {result['rc']}: {result['tail'][-600:]}"
        if variant.startswith("b"):
            summary = json.loads((report_dir / "report.json").read_text())["summary"]
            if summary["hosts"] != len(hosts) or summary["hosts_ok"] != len(hosts):
                return f"report: {summary['verdict']}"
        if variant == "c":
            got = self.control.counters()["mailboxes"]
            sent = sum(m.get("messages", 0) for m in got.values())
            if sent != len(hosts):
                return f"{sent} messages reached the stand-in, not {len(hosts)}"
        return None

    def run(self, variant: str, hosts: list[str], tag: str) -> dict:
        self.prepare(variant)
        report_dir = self.work / f"report-{tag}"
        result = measure(self.command(variant, hosts, report_dir), self.env, REPO)
        result["invalid"] = self.check(variant, result, hosts, report_dir)
        result.pop("tail")
        self.control.reset()
        self.control.clear_messages()
        return result


def inner(args) -> int:
    from tests.lab.fixtures import LabHandle
    lab = LabHandle.load()
    names = [h["name"] for h in lab.hosts]
    cfg = json.loads(Path(lab.state["standins"]["config"]).read_text())
    raw: dict = {"hosts": {}}
    with tempfile.TemporaryDirectory(prefix="validate-bench-") as tmp:
        bench = Bench(lab, cfg, Path(tmp), args.forks)
        for n in args.hosts:
            hosts = names[:n]
            # Warm-up (not counted): SSH masters up and Python caches filled for every variant alike.
            bench.run("a", hosts, f"warm-{n}")
            rows = {v: [] for v in VARIANTS}
            for i in range(args.runs):
                for v in VARIANTS:
                    r = bench.run(v, hosts, f"{n}-{v}-{i}")
                    rows[v].append(r)
                    flag = f" INVALID: {r['invalid']}" if r["invalid"] else ""
                    print(f"bench: N={n} {v} run {i + 1}: {r['seconds']:.2f} s, "
                          f"peak PSS {r['peak_pss_mib']:.0f} MiB, RSS {r['peak_rss_mib']:.0f} MiB, "
                          f"largest process {r['largest_rss_mib']:.0f} MiB{flag}", flush=True)
            raw["hosts"][str(n)] = rows
    report = summarise(raw, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": report, "raw": raw}, indent=2) + "\n")
    text = render(report)
    print(text)
    if args.update_doc:
        update_doc_block("validate-bench", text, heading="Fleet validation")
    return 1 if report["invalid_runs"] else 0


def _median(values: list) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarise(raw: dict, args) -> dict:
    out = {"forks": args.forks, "runs": args.runs, "rows": [], "invalid_runs": 0}
    for n, rows in raw["hosts"].items():
        med = {}
        for v, runs in rows.items():
            good = [r for r in runs if not r["invalid"]]
            out["invalid_runs"] += len(runs) - len(good)
            med[v] = {"seconds": _median([r["seconds"] for r in good]),
                      "peak_rss_mib": _median([r["peak_rss_mib"] for r in good]),
                      "peak_pss_mib": _median([r["peak_pss_mib"] for r in good]),
                      "largest_rss_mib": _median([r["largest_rss_mib"] for r in good]), "valid": len(good)}
        s = {v: med[v]["seconds"] for v in VARIANTS}
        rounds = math.ceil(int(n) / args.forks)

        def ratio(x, y):
            return round(x / y, 2) if x and y else None
        out["rows"].append({
            "hosts": int(n), "medians": med,
            "b_over_a": ratio(s["b-465tls"], s["a"]), "b_m365_over_a": ratio(s["b-m365"], s["a"]),
            "c_over_b": ratio(s["c"], s["b-465tls"]), "b_over_c": ratio(s["b-465tls"], s["c"]),
            "m365_extra_seconds": round(s["b-m365"] - s["b-465tls"], 2) if s["b-m365"] and s["b-465tls"] else None,
            "m365_extra_allowed": rounds * NOT_OFFERED_CONNECT_TIMEOUT,
            "b_minus_a_pss_mib": round(med["b-465tls"]["peak_pss_mib"] - med["a"]["peak_pss_mib"], 1)
            if med["b-465tls"]["peak_pss_mib"] and med["a"]["peak_pss_mib"] else None,
            "b_minus_a_largest_mib": round(med["b-465tls"]["largest_rss_mib"] - med["a"]["largest_rss_mib"], 1)
            if med["b-465tls"]["largest_rss_mib"] and med["a"]["largest_rss_mib"] else None,
        })
    core = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--version"],
                          capture_output=True, text=True, check=False).stdout.splitlines()[:1]
    pkg = subprocess.run([str(pkg_tool()), "--version"], capture_output=True,
                         text=True, check=False).stdout.splitlines()[:1]
    out["ansible"] = {"ours": core[0] if core else "?", "package": pkg[0] if pkg else "?",
                      "package_requirements": pkg_requirements()}
    return out


def _fmt(x, unit="") -> str:
    return "n/a" if x is None else f"{x:g}{unit}"


def render(report: dict) -> str:
    lines = [f"forks {report['forks']}; medians of {report['runs']} runs; wall time of the whole "
             "ansible-playbook run.", "",
             "| hosts | (a) ping | (b) 465 TLS | (b) m365 | (c) users' way | b/a | b/c | c/b | m365 extra (allowed) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["rows"]:
        m = row["medians"]
        lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s (%s) |" % (
            row["hosts"], *(_fmt(m[v]["seconds"], " s") for v in VARIANTS), _fmt(row["b_over_a"]),
            _fmt(row.get("b_over_c")), _fmt(row["c_over_b"]), _fmt(row["m365_extra_seconds"], " s"),
            _fmt(row["m365_extra_allowed"], " s")))
    lines += ["", "Whole process tree, peak summed PSS in MiB (summed RSS in brackets); sampled:", "",
              "| hosts | (a) ping | (b) 465 TLS | (b) m365 | (c) users' way | (b) − (a) |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]

    def mem(m):
        return "%s (%s)" % (_fmt(m["peak_pss_mib"]), _fmt(m["peak_rss_mib"]))
    for row in report["rows"]:
        m = row["medians"]
        lines.append("| %d | %s | %s | %s | %s | %s |" % (
            row["hosts"], *(mem(m[v]) for v in VARIANTS), _fmt(row["b_minus_a_pss_mib"])))
    lines += ["", "Largest single process (ansible-playbook itself), peak RSS in MiB; exact, from wait4():", "",
              "| hosts | (a) ping | (b) 465 TLS | (b) m365 | (c) users' way | (b) − (a) |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["rows"]:
        m = row["medians"]
        lines.append("| %d | %s | %s | %s | %s | %s |" % (
            row["hosts"], *(_fmt(m[v].get("largest_rss_mib")) for v in VARIANTS),
            _fmt(row.get("b_minus_a_largest_mib"))))
    lines += ["", f"ours: {report['ansible']['ours']}; (c): {report['ansible']['package']} "
              f"({', '.join(report['ansible']['package_requirements'])})"]
    if report["invalid_runs"]:
        lines.append(f"**{report['invalid_runs']} run(s) did not check every host and are left out;** "
                     "see bench/results/validate.json.")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="bench/validate_bench.py", description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--hosts", default="10,25,50", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--forks", type=int, default=25)
    add_lab_options(ap, ".lab-bench-validate")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 20 or not all(1 <= h <= 60 for h in args.hosts) or not 1 <= args.forks <= 100:
        ap.error("--runs is 1-20, each of --hosts 1-60, --forks 1-100")
    return dispatch(inner, args, argv, __file__, hosts=max(args.hosts), pkg_venv=True)


if __name__ == "__main__":
    sys.exit(main())
