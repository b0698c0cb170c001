#!/usr/bin/env python
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the smtp_relay role's xoauth2 upstream: throughput per mailbox and added latency (issue 20).

    .venv/bin/python bench/relay_bench.py [--messages 60] [--latency-runs 15]
                                          [--state-dir .lab-bench-relay] [--keep-lab] [--update-doc]

Brings up a lab of 2 hosts under --state-dir (unless one is already up there) and makes host1 a relay with the
playbook mailops.smtp.relay: xoauth2 upstream, on the loopback, the default budget (one relay for the mailbox,
2 connections, 30 messages a minute: Postfix's rate delay is 2 s). The stand-in keeps its real limits: a minute
of 60 s, 3 connections of a mailbox sending at once.

(a) Throughput: --messages messages, submitted at once by an application on host1 (smtplib to 127.0.0.1:25,
    5 sessions), timed from the first connect to the stand-in's receipt of the last message. The target: at most
    1.1 x (messages / 30) minutes, with no message recorded as delayed by the stand-in and no 432.
(b) Added latency: one message at a time, alternately through the relay (smtplib to 127.0.0.1:25, no login) and
    directly (smtplib to smtp.office365.com:587, STARTTLS, AUTH XOAUTH2 with the relay's own token, as an
    application that speaks XOAUTH2 itself), --latency-runs of each, each timed from the moment before the
    client connects to the stand-in's receipt (one machine, one clock). A relay message is sent only once the
    relay's rate delay since its previous delivery has passed, so that (b) times the path, not the queue.

Medians go to stdout and bench/results/relay.json; --update-doc rewrites the block in docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import REPO, add_lab_options, dispatch, update_doc_block, write_private

RESULTS = REPO / "bench" / "results" / "relay.json"
RELAY = "host1"
PER_MINUTE = 30
TARGET_RATIO = 1.1
RATE_DELAY = 2.0          # the default budget's, in seconds (checked against Postfix below)
SESSIONS = 5
WAIT_SECONDS = 600
# An application on the relay host. "relay": to Postfix on the loopback, no login. "direct": to Microsoft 365
# (the stand-in) with STARTTLS and AUTH XOAUTH2, the relay's token read from its file (never printed).
# Prints {"t0": time before the first connect, "errors": [...]}.
CLIENT_CODE = r"""
import json, smtplib, ssl, sys, threading, time
mode, mailbox, tag, count, sessions, token_file, ca = sys.argv[1:8]
count, sessions = int(count), int(sessions)
errors, lock = [], threading.Lock()

def connect():
    if mode == "relay":
        s = smtplib.SMTP("127.0.0.1", 25, timeout=60)
        s.ehlo("app.lab.test")
        return s
    s = smtplib.SMTP("smtp.office365.com", 587, timeout=60)
    s.ehlo("app.lab.test")
    s.starttls(context=ssl.create_default_context(cafile=ca))
    s.ehlo("app.lab.test")
    with open(token_file) as f:
        token = f.read().strip()
    s.auth("XOAUTH2", lambda challenge=None: "user=%s\x01auth=Bearer %s\x01\x01" % (mailbox, token))
    return s

def session(k):
    try:
        s = connect()
        for i in range(k, count, sessions):
            rcpt = "bench-%s-%d@contoso.com" % (tag, i)
            msg = "From: %s\r\nTo: %s\r\nSubject: bench %s %d\r\n\r\nbench\r\n" % (mailbox, rcpt, tag, i)
            s.sendmail(mailbox, [rcpt], msg.encode())
        s.quit()
    except (OSError, smtplib.SMTPException) as e:
        with lock:
            errors.append("%s: %s" % (e.__class__.__name__, str(e)[:200]))

t0 = time.time()
threads = [threading.Thread(target=session, args=(k,)) for k in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"t0": t0, "errors": errors}))
"""
PLAYBOOK_TIMEOUT = 600


class Bench:
    def __init__(self, lab, work: Path):
        import yaml
        from tests.lab.standins.control import StandinControl
        self.lab = lab
        self.work = work
        self.control = StandinControl(lab.state["standins"]["control_socket"])
        self.mailbox = lab.state["standins"]["mailbox"]
        lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
        self.role_vars = {"smtp_relay_vault": lab_vars["mailops_smtp_vault_oauth"], "smtp_relay_ca_path": lab.ca}
        self.token_file = "/var/lib/mailops-smtp/relay.token"

    def set_up_relay(self) -> None:
        vars_file = self.work / "relay-vars.json"
        write_private(vars_file, json.dumps(self.role_vars))
        p = self.lab.ansible(["mailops.smtp.relay", "-l", RELAY, "-e", f"@{vars_file}"], timeout=PLAYBOOK_TIMEOUT,
                             extra_env={"ANSIBLE_NOCOLOR": "1"})
        if p.returncode != 0:
            raise SystemExit(f"bench: the relay playbook failed:\n{(p.stdout + p.stderr)[-3000:]}")
        delay = self.lab.host_run(RELAY, ["postconf", "-h", "mailops_xoauth2_destination_rate_delay"]).stdout.strip()
        if delay != f"{RATE_DELAY:.0f}s":
            raise SystemExit(f"bench: the relay's rate delay is {delay}, not the default budget's {RATE_DELAY:.0f}s")

    def send(self, mode: str, tag: str, count: int, sessions: int) -> float:
        """Run the application on host1; the time before its first connect."""
        h = self.lab.host(RELAY)
        p = self.lab.host_run(RELAY, [h["python"], "-c", CLIENT_CODE, mode, self.mailbox, tag, str(count),
                                      str(sessions), self.token_file, self.lab.ca], timeout=300)
        out = json.loads(p.stdout)
        if out["errors"]:
            raise SystemExit(f"bench: the {mode} client failed: {out['errors']}")
        return out["t0"]

    def received(self, tag: str, count: int) -> list[dict]:
        """The stand-in's messages of this tag, once all count have arrived (bounded)."""
        deadline = time.monotonic() + WAIT_SECONDS
        marker = f"bench-{tag}-"
        while True:
            got = [m for m in self.control.messages() if any(r.startswith(marker) for r in m["rcpt_tos"])]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {count - len(got)} of {count} messages ({tag}) never arrived")
            time.sleep(0.2)

    def counters(self) -> dict:
        return self.control.mailbox_counters(self.mailbox)

    def delivery_seconds(self, tag: str) -> list[float]:
        """Each message's delivery time through the pipe (Postfix's 'd' delay: relay-send, msmtp, the server)."""
        log = self.lab.host_run(RELAY, ["cat", "/var/log/postfix.log"]).stdout
        return [float(m.group(1)) for m in re.finditer(rf"to=<bench-{tag}-\d+@[^>]*>.*delays=[\d.]+/[\d.]+/[\d.]+/"
                                                       r"([\d.]+).*status=sent", log)]


def throughput(bench: Bench, messages: int) -> dict:
    tag = "t" + uuid.uuid4().hex[:8]
    bench.control.clear_faults()
    bench.control.set_clock(60)  # the real minute, counted from now
    before = bench.counters()
    t0 = bench.send("relay", tag, messages, SESSIONS)
    got = bench.received(tag, messages)
    after = bench.counters()
    last = max(m["received_at"] for m in got)
    seconds = last - t0
    budget = messages / PER_MINUTE * 60
    per_minute: dict = {}
    for m in got:
        minute = m["delivery"]["submitted_minute"]
        per_minute[minute] = per_minute.get(minute, 0) + 1
    deliveries = bench.delivery_seconds(tag)
    return {"messages": messages, "seconds": round(seconds, 1), "budget_seconds": budget,
            "ratio": round(seconds / budget, 3), "received": len(got),
            "delayed": sum(1 for m in got if m["delayed"]),
            "refused_432": after.get("send_rejected_concurrency", 0) - before.get("send_rejected_concurrency", 0),
            "per_minute": [per_minute[k] for k in sorted(per_minute)],
            "delivery_median_seconds": round(statistics.median(deliveries), 3) if deliveries else None}


def latency(bench: Bench, runs: int) -> dict:
    rows: dict = {"relay": [], "direct": []}
    last_relay = 0.0
    for i in range(runs):
        for mode in ("relay", "direct"):
            if mode == "relay":
                # Past the rate delay since the relay's previous delivery, with room for Postfix's timer.
                time.sleep(max(0.0, last_relay + RATE_DELAY + 0.5 - time.time()))
            tag = f"{mode[0]}{i}" + uuid.uuid4().hex[:6]
            t0 = bench.send(mode, tag, 1, 1)
            m = bench.received(tag, 1)[0]
            rows[mode].append(round((m["received_at"] - t0) * 1000, 1))
            if mode == "relay":
                last_relay = m["received_at"]
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {"runs": runs, "ms": rows, "median_ms": {k: round(v, 1) for k, v in med.items()},
            "added_ms": round(med["relay"] - med["direct"], 1),
            "ratio": round(med["relay"] / med["direct"], 2)}


def machine_state() -> dict:
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"load_average": [float(x) for x in load],
            "cpus": int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)}


def inner(args) -> int:
    from tests.lab.fixtures import LabHandle
    lab = LabHandle.load()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        bench = Bench(lab, Path(tmp))
        bench.set_up_relay()
        state_before = machine_state()
        tp = throughput(bench, args.messages)
        print(f"bench: throughput {tp}", flush=True)
        lt = latency(bench, args.latency_runs)
        print(f"bench: latency medians {lt['median_ms']}", flush=True)
    report = {"when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"before": state_before, "after": machine_state()}, "throughput": tp, "latency": lt,
              "seconds": round(time.monotonic() - started, 1)}
    report["target_met"] = tp["ratio"] <= TARGET_RATIO and tp["delayed"] == 0 and tp["refused_432"] == 0
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS.read_text()).get("runs", []) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps({"runs": history + [report]}, indent=2) + "\n")
    text = render(report)
    print(text)
    if args.update_doc:
        update_doc_block("relay-bench", text, heading="The relay (`mailops.smtp.smtp_relay`)")
    return 0 if report["target_met"] else 1


def render(r: dict) -> str:
    tp, lt, m = r["throughput"], r["latency"], r["machine"]
    load = ", ".join(f"{x:.1f}" for x in m["before"]["load_average"])
    load_after = ", ".join(f"{x:.1f}" for x in m["after"]["load_average"])
    return "\n".join([
        f"One run, {r['when']}, {r['seconds']:.0f} s in all; {m['before']['cpus']} cores, load average "
        f"{load} before and {load_after} after.", "",
        "| (a) throughput, one mailbox, the stand-in's real limits | measured |",
        "| --- | ---: |",
        f"| {tp['messages']} messages submitted at once, until the last arrived | {tp['seconds']} s |",
        f"| the mailbox's budget, {tp['messages']} / {PER_MINUTE} minutes | {tp['budget_seconds']:.0f} s |",
        f"| ratio (target: at most {TARGET_RATIO}) | {tp['ratio']:.3f} |",
        f"| recorded as delayed by the stand-in / refused with 432 | {tp['delayed']} / {tp['refused_432']} |",
        f"| messages in each of the stand-in's minutes | {', '.join(str(n) for n in tp['per_minute'])} |",
        f"| one delivery through the pipe (relay-send, msmtp, the server), median | "
        f"{tp['delivery_median_seconds']} s |",
        "",
        f"| (b) latency, one message at a time, median of {lt['runs']} | ms |",
        "| --- | ---: |",
        f"| direct: smtplib, STARTTLS, AUTH XOAUTH2 to the stand-in | {lt['median_ms']['direct']} |",
        f"| through the relay: smtplib to 127.0.0.1:25, then Postfix, relay-send, msmtp | "
        f"{lt['median_ms']['relay']} |",
        f"| added by the relay (ratio) | {lt['added_ms']} ({lt['ratio']}x) |",
        "",
        f"Target met: {'yes' if r['target_met'] else 'no'}.",
    ])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=60)
    ap.add_argument("--latency-runs", type=int, default=15)
    add_lab_options(ap, ".lab-bench-relay")
    args = ap.parse_args(argv)
    return dispatch(inner, args, argv, __file__, hosts=2)


if __name__ == "__main__":
    sys.exit(main())
