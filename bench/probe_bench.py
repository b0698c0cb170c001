# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of mailops.smtp.probe, side by side with swaks, over 50 ms each way (issue 4).

    .venv/bin/python bench/probe_bench.py [--runs 5] [--state-dir .lab-bench] [--keep-lab] [--update-doc]

Brings up a lab of two hosts under --state-dir (unless one is already up there), adds
--one-way-ms of latency between the first host and the SMTP stand-in (the second host stays
at LAN speed, as the zero point), and in one run:
  (a) 587 STARTTLS + AUTH LOGIN
  (b) 587 + 465, 465 serving implicit TLS (AUTH on one port, as the probe does by default)
  (c) the m365 profile, 465 dropped (AUTH on 587)
  (d) a connect-only probe of 10 ports
The probe is timed with its own elapsed_ms; swaks (Debian's) runs on the same host, one port
after the other, timed around the process on that host. Medians of --runs runs; a round
trip count is (median on the slow host - median on the fast host) / RTT. The report goes to
stdout and bench/results/probe.json; --update-doc rewrites the measured part of the probe
section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, add_lab_options, dispatch, update_doc_block, write_private

NOT_OFFERED_TIMEOUT_MS = 2000   # the m365 profile's connect timeout for 465
D_PORTS = [587, 465, 25, 26, 110, 143, 993, 995, 2525, 8025]
# Round trips of the shortest exchange that does the same checks, with TLS 1.3:
# (a) connect 1, banner 1, EHLO 1, STARTTLS 1, TLS handshake 1 (the client Finished goes
#     with the next EHLO), EHLO 1, AUTH LOGIN with the user as initial response 1, password 1.
# (b) both ports at once, AUTH on one port only: the first, 587, the applications' port (issue 17;
#     465 alone would log in after 6), so (a)'s 8.
# (d) every connect at once: 1.
BOUND_RTT = {"a": 8, "b": 8, "d": 1}

# What swaks prints once it reached the stage a command asks for. A run that did not reach it
# is an error, not a number: swaks without Net::SSLeay exits at once ("TLS not available"),
# and timing that exit once gave swaks 66 ms and "0.0 RTTs".
SWAKS_REACHED = {
    "auth": re.compile(r"^<~  235 ", re.M),        # AUTH accepted, over TLS
    "ehlo_tls": re.compile(r"^<~  250 ", re.M),    # EHLO answered, over TLS
    "timeout": re.compile(r"connect: timeout"),    # a dropped port waited out
    "connect": re.compile(r"^=== Connected to |connect: Connection refused|connect: timeout", re.M),
}

SWAKS_DRIVER = r"""
import json, subprocess, sys, time
spec = json.load(sys.stdin)
out = []
for run in range(spec["runs"]):
    for case, commands in spec["cases"]:
        start = time.monotonic()
        procs = [subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
                 for cmd, _stage in commands]
        ms = (time.monotonic() - start) * 1000.0
        out.append({"case": case, "run": run, "ms": ms, "rcs": [p.returncode for p in procs],
                    "stages": [stage for _cmd, stage in commands], "outputs": [p.stdout[-3000:] for p in procs]})
print(json.dumps(out))
"""


class PeerRunFailed(SystemExit):
    """A timed run did not reach the stage it was asked for: the bench stops rather than count it."""


def swaks_failure(row: dict) -> str | None:
    """Why a swaks run does not count (a command that did not reach its stage), or None."""
    for stage, output in zip(row["stages"], row["outputs"]):
        if not SWAKS_REACHED[stage].search(output):
            return "swaks did not reach %s in case (%s): %s" % (stage, row["case"], output.strip()[-300:] or "no output")
    return None


def probe_failure(case: str, res: dict) -> str | None:
    """Why a probe run does not count (it did not pass the case's checks), or None."""
    ports = res.get("ports") or {}
    if case == "d":
        reached = all(any(s["name"] == "connect" for s in p["stages"]) for p in ports.values())
        return None if len(ports) == len(D_PORTS) and reached else "the probe did not try every port: %s" % res
    if not res.get("ok"):
        return "the probe failed case (%s): %s" % (case, res.get("summary") or res.get("msg"))
    if not (ports.get("587", {}).get("auth") or {}).get("ok"):
        return "the probe did not log in on 587 in case (%s): %s" % (case, res.get("summary"))
    if case == "c" and (ports.get("465", {}).get("diagnosis") or {}).get("code") != "port_not_offered":
        return "465 was not waited out in case (c): %s" % res.get("summary")
    return None


# -- inside the lab ------------------------------------------------------------------------------

def probe_tasks(case: str, runs: int, ca: str) -> list:
    auth = {"username": "{{ bench_user }}", "password": "{{ bench_password }}"}
    args = {
        "a": {"profile": "m365", "ports": [587], "auth": auth},
        "b": {"profile": "custom", "host": "smtp.office365.com", "ports": [587, 465], "require": "all",
              "auth": auth},
        "c": {"profile": "m365", "auth": auth},
        "d": {"profile": "custom", "host": "smtp.office365.com", "ports": D_PORTS, "stop_after": "connect",
              "connect_timeout": 2},
    }[case]
    args = dict(args, ca_path=ca)
    return [{"name": f"({case}) run {i}", "mailops.smtp.probe": args, "register": f"{case}_{i}",
             "failed_when": False} for i in range(runs)]


def run_probes(lab, hosts: list, cases: str, runs: int, ca: str, secrets: dict, work: Path) -> dict:
    """Run the probe cases `runs` times, interleaved, on every host at once; elapsed_ms per case."""
    tasks = []
    for i in range(runs):
        for case in cases:
            task = probe_tasks(case, runs, ca)[i]
            tasks.append(task)
    names = [t["register"] for t in tasks]
    content = "{{ {%s} | to_json }}" % ", ".join(
        "%s: {%s}" % (json.dumps(h), ", ".join("%s: hostvars[%s][%s]" % (
            json.dumps(n), json.dumps(h), json.dumps(n)) for n in names)) for h in hosts)
    out = work / f"probe-{cases}.json"
    tasks.append({"name": "collect", "ansible.builtin.copy": {"content": content, "dest": str(out), "mode": "0600"},
                  "run_once": True, "delegate_to": "localhost"})
    play = [{"hosts": ",".join(hosts), "gather_facts": False, "tasks": tasks}]
    (work / "bench.yml").write_text(json.dumps(play))
    vars_file = work / "secrets.json"
    write_private(vars_file, json.dumps(secrets))
    proc = lab.ansible([str(work / "bench.yml"), "-e", f"@{vars_file}"], timeout=600)
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"bench: ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                         f"{proc.stderr[-2000:]}")
    data = json.loads(out.read_text())
    out.unlink()
    result = {}
    for host in hosts:
        for name, res in data[host].items():
            case = name.split("_")[0]
            why = probe_failure(case, res)
            if why:
                raise PeerRunFailed("bench: %s: %s" % (host, why))
            result.setdefault(host, {}).setdefault(case, []).append(float(res["elapsed_ms"]))
    return result


def swaks_cases(cases: str, conf: str) -> list:
    """[case, [[command, the stage it must reach (SWAKS_REACHED)], ...]] for each case."""
    base = ["swaks", "--config", conf, "--server"]
    auth587 = [base + ["smtp.office365.com:587", "--tls", "--auth", "LOGIN", "--quit-after", "AUTH",
                       "--timeout", "10"], "auth"]
    out = []
    for case in cases:
        if case == "a":
            cmds = [auth587]
        elif case == "b":
            cmds = [auth587, [base + ["smtp.office365.com:465", "--tls-on-connect", "--quit-after", "EHLO",
                                      "--timeout", "10"], "ehlo_tls"]]
        elif case == "c":
            cmds = [auth587, [base + ["smtp.office365.com:465", "--tls-on-connect", "--quit-after", "EHLO",
                                      "--timeout", str(NOT_OFFERED_TIMEOUT_MS // 1000)], "timeout"]]
        else:
            cmds = [[base + [f"smtp.office365.com:{p}", "--quit-after", "CONNECT", "--timeout", "2"]
                     + (["--tls-on-connect"] if p == 465 else []), "connect"] for p in D_PORTS]
        out.append([case, cmds])
    return out


def run_swaks(lab, hosts: list, cases: str, runs: int, conf: str) -> dict:
    """swaks on each host (hosts in parallel), the case's commands one after the other."""
    result, errors = {}, []

    def one(host):
        spec = json.dumps({"runs": runs, "cases": swaks_cases(cases, conf)})
        h = lab.host(host)
        proc = lab.host_run(host, [h["python"], "-c", SWAKS_DRIVER], check=False, input=spec, timeout=900)
        if proc.returncode != 0:
            errors.append(f"{host}: {proc.stderr[-1000:]}")
            return
        for row in json.loads(proc.stdout):
            why = swaks_failure(row)
            if why:
                errors.append(f"{host}: {why}")
                return
            row.pop("outputs")
            result.setdefault(host, {}).setdefault(row["case"], []).append(row)

    threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise PeerRunFailed("bench: a swaks run does not count: " + "; ".join(errors))
    return result


def inner(args) -> int:
    from tests.lab.fixtures import LabHandle
    from tests.lab.standins.handle import lab_standins

    lab = LabHandle.load()
    work = Path(tempfile.mkdtemp(prefix="probe-bench-", dir=str(lab.dir)))
    standins = lab_standins(work)
    if standins is None:
        raise SystemExit("bench: the lab runs no stand-ins")
    if len(lab.hosts) < 2:
        raise SystemExit("bench: the lab needs 2 hosts (one slowed down, one as the zero point)")
    slow, fast = lab.hosts[0]["name"], lab.hosts[1]["name"]
    hosts = [slow, fast]
    rtt = 2 * args.one_way_ms
    conf = work / "swaks.conf"
    write_private(conf, f"auth-user {standins.mailbox}\nauth-password {standins.password}\n")
    secrets = {"bench_user": standins.mailbox, "bench_password": standins.password}
    t0 = time.monotonic()
    probe, swaks = {}, {}
    ctl = standins.control
    try:
        ctl.reset()
        lab.latency(slow, args.one_way_ms)
        for mode, cases in (("tls", "abd"), ("drop", "c")):
            ctl.set_port_mode(465, mode)
            for host, by_case in run_probes(lab, hosts, cases, args.runs, standins.ca, secrets, work).items():
                probe.setdefault(host, {}).update(by_case)
            for host, by_case in run_swaks(lab, hosts, cases, args.runs, str(conf)).items():
                swaks.setdefault(host, {}).update(by_case)
    finally:
        lab.clear(slow)
        ctl.reset()
        conf.unlink()
        (work / "secrets.json").unlink(missing_ok=True)
    report = summarise(probe, swaks, slow, fast, rtt, args)
    report["seconds"] = round(time.monotonic() - t0, 1)
    text = render(report)
    print(text)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "probe.json").write_text(json.dumps(report, indent=1))
    if args.update_doc:
        update_doc_block("probe-bench", text)
    return 0


def summarise(probe, swaks, slow, fast, rtt, args) -> dict:
    med = statistics.median
    cases = {}
    for case in "abcd":
        p_slow, p_fast = med(probe[slow][case]), med(probe[fast][case])
        s_slow = med(r["ms"] for r in swaks[slow][case])
        s_fast = med(r["ms"] for r in swaks[fast][case])
        bound_ms = (BOUND_RTT[case] * rtt if case in BOUND_RTT
                    else max(BOUND_RTT["a"] * rtt, NOT_OFFERED_TIMEOUT_MS))
        cases[case] = {
            "probe_ms": round(p_slow, 1), "probe_lan_ms": round(p_fast, 1),
            "probe_rtts": round((p_slow - p_fast) / rtt, 2),
            "bound_ms": bound_ms, "bound_rtts": BOUND_RTT.get(case),
            "probe_vs_bound": round(p_slow / bound_ms, 3),
            "swaks_ms": round(s_slow, 1), "swaks_lan_ms": round(s_fast, 1),
            "swaks_rtts": round((s_slow - s_fast) / rtt, 2),
            "probe_vs_swaks": round(p_slow / s_slow, 3),
            "probe_runs": [round(x, 1) for x in probe[slow][case]],
            "swaks_runs": [round(r["ms"], 1) for r in swaks[slow][case]],
            "swaks_exit_codes": sorted({tuple(r["rcs"]) for r in swaks[slow][case]}),
        }
    a, b, c = cases["a"]["probe_ms"], cases["b"]["probe_ms"], cases["c"]["probe_ms"]
    targets = [
        ("(a) within 1.15x of its bound", cases["a"]["probe_vs_bound"] <= 1.15,
         f"{cases['a']['probe_vs_bound']:.2f}x"),
        ("(b) no more than 1.1x (a)", b <= 1.1 * a, f"{b / a:.2f}x"),
        ("(c) no more than (a) + the 465 connect timeout", c <= a + NOT_OFFERED_TIMEOUT_MS,
         f"{c:.0f} ms vs {a + NOT_OFFERED_TIMEOUT_MS:.0f} ms"),
        ("every case well under swaks", all(v["probe_vs_swaks"] < 0.8 for v in cases.values()),
         ", ".join(f"({k}) {v['probe_vs_swaks']:.2f}x" for k, v in cases.items())),
    ]
    return {"one_way_ms": args.one_way_ms, "rtt_ms": rtt, "runs": args.runs, "cases": cases,
            "targets": [{"target": t, "met": ok, "measured": m} for t, ok, m in targets]}


LABELS = {"a": "(a) 587 STARTTLS + AUTH LOGIN", "b": "(b) 587 + 465 implicit TLS",
          "c": "(c) m365 profile, 465 dropped", "d": "(d) connect-only, 10 ports"}


def render(report) -> str:
    lines = [f"Probe benchmark: {report['one_way_ms']} ms each way (RTT {report['rtt_ms']} ms), "
             f"medians of {report['runs']} runs, {report.get('seconds', '?')} s in all.", "",
             "| case | probe ms | probe RTTs | bound | probe / bound | probe ms, LAN | swaks ms | swaks RTTs "
             "| probe / swaks |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, c in report["cases"].items():
        bound = f"{c['bound_rtts']} RTT" if c["bound_rtts"] else f"{c['bound_ms']:.0f} ms"
        lines.append(f"| {LABELS[key]} | {c['probe_ms']:.0f} | {c['probe_rtts']:.1f} | {bound} | "
                     f"{c['probe_vs_bound']:.2f} | {c['probe_lan_ms']:.0f} | {c['swaks_ms']:.0f} | "
                     f"{c['swaks_rtts']:.1f} | {c['probe_vs_swaks']:.2f} |")
    lines += ["", "| target | met | measured |", "| --- | --- | --- |"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {'yes' if t['met'] else 'NO'} | {t['measured']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="bench/probe_bench.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--one-way-ms", type=int, default=50)
    add_lab_options(ap, ".lab-bench")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 50 or not 1 <= args.one_way_ms <= 500:
        ap.error("--runs is 1-50 and --one-way-ms 1-500")
    return dispatch(inner, args, argv, __file__, hosts=2)


if __name__ == "__main__":
    sys.exit(main())
