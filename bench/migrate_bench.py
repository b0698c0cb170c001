#!/usr/bin/env python
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of mailops.smtp.migrate beside the configure run over the same hosts (issue 21, section 5).

    .venv/bin/python bench/migrate_bench.py [--hosts 10,25] [--apps designated|relay|msmtp] [--runs 3] [--serial 10%,100%]
                                            [--state-dir .lab-bench-migrate] [--keep-lab] [--update-doc]

Brings up a lab of max(--hosts) hosts under --state-dir (unless one is already up there). The apps of every
host (--apps): msmtp, Grafana and Django (msmtp moves to XOAUTH2, Grafana and Django go through a relay:
`designated` or `relay`, below), or `msmtp` alone. In each of --runs rounds, for
each N: the first N hosts are reset (no app file, the lab's own Postfix), then (a) `mailops.smtp.configure`
puts their apps on basic auth (the basic credential in Vault), then (b) `mailops.smtp.migrate` moves them
off it, each timed around the ansible-playbook process, one after the other. A (b) run counts only when it
exits 0, its migration.json says `done` and every host `moved` with every proof accepted. migrate's
recorded waits are its migration.json's `timings.proof_wait_wall_s` (the proofs' own time, the waits of
hosts of one batch counted once) and `timings.pacing_wait_s`.

`--apps designated` (the issue's fleet, any N; the default with --hosts 10,25): the same three apps, and
the first host is a designated relay (smtp_relay_listen on its address, STARTTLS with a lab-CA certificate,
the lab's subnet allowed), so the Grafana and Django of every other host go through it, and the proof of
each is read in its log. Every host trusts the lab CA for that (tests/lab/trust.py), once per bench.
`--apps relay` puts a relay on each host, which the mailbox's connections cap at 2 hosts (the relays of
one mailbox share them: 2 by default, 3 at most). `--apps msmtp` runs at any N, with one app a host.

`--by-hand` (the default): each round then resets the hosts, puts them on basic auth again (a second
configure sample) and reaches migrate's end state without it, timed as one: `mailops.smtp.relay` on the
relay hosts of migrate's plan, then `mailops.smtp.configure` with the new apps (each host's plan, from
migration.json), as an operator would by hand.

The target: migrate's time minus those waits at most 2 x configure's. Medians go to stdout and
bench/results/migrate.json; --update-doc rewrites the block in docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import REPO, add_lab_options, dispatch, update_doc_block

# tests.conftest makes ansible_collections.mailops.smtp importable.
import tests.conftest  # noqa: F401  pylint: disable=unused-import
from ansible_collections.mailops.smtp.plugins.plugin_utils._relay import XOAUTH2_TRANSPORT

RESULTS = REPO / "bench" / "results" / "migrate.json"
RUN_TIMEOUT = 3600
TARGET_RATIO = 2.0
DIR = "/root/mailops-bench"
DJANGO = f"{DIR}/smtp_settings.py"
GRAFANA = "/etc/grafana/grafana.ini"
# Three apps a host, two sets (--apps). Grafana and Django read only the system trust store: the lab CA is
# not given to them (as in the presets tests).
APP_SETS = {
    # msmtp moves to XOAUTH2, Grafana and Django go through a relay on their host (smtp_relay, which takes
    # the host's Postfix over). The relays of one mailbox share its connections (at most 3 at Microsoft,
    # 2 by default: docs/relay.md), so migrate refuses this set on more than 2 hosts without a designated
    # relay host.
    "relay": [{"preset": "msmtp"},
              {"preset": "grafana", "smtp": {"ca_path": None}},
              {"preset": "django", "path": DJANGO, "smtp": {"ca_path": None}}],
    # One app that moves to XOAUTH2 itself, no relay, so any number of hosts. (Two msmtp apps on XOAUTH2 on one
    # host are refused: both would write the token refresher's credential file.)
    "msmtp": [{"preset": "msmtp"}],
}
# The same three apps; the first host of the lab is the designated relay of the others (Bench.designate).
APP_SETS["designated"] = APP_SETS["relay"]
RELAY_CERT, RELAY_KEY = "/etc/ssl/mailops-relay/relay.pem", "/etc/ssl/private/mailops-relay.key"


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


class Bench:
    def __init__(self, lab, standins, work: Path, apps: list, designated: bool = False):
        from tests.integration.migrate.conftest import Migration
        self.lab = lab
        self.serial = "10%"
        self.work = work
        self.designated = designated
        # The apps are the inventory's (a second inventory source), as an operator's are: an extra var would
        # outrank the new smtp_configure_apps that migrate gives the configure role of each move.
        tag = uuid.uuid4().hex[:10]
        self.mig = Migration(lab, standins, work, [], f"smtp/bench-basic-{tag}", f"smtp/bench-oauth-{tag}")
        self.apps_inventory = work / "apps-inventory.yml"
        inventory = {"all": {"vars": {"smtp_configure_apps": apps,
                                      "mailops_smtp_vault": self.mig.vault_options(self.mig.basic_path)}}}
        if designated:
            inventory["all"]["hosts"] = {lab.hosts[0]["name"]: self.designate()}
        self.apps_inventory.write_text(json.dumps(inventory))
        self.mig.secrets += [standins.password, standins.app.secret]
        names = [h["name"] for h in lab.hosts]
        self.mains = {h: {"main": lab.host_run(h, ["cat", "/etc/postfix/main.cf"]).stdout,
                          "master": lab.host_run(h, ["cat", "/etc/postfix/master.cf"]).stdout} for h in names}
        # Each round puts these back as the lab's Postfix: a bench stopped part-way leaves a relay in them, and a
        # relay "seen running" is left out of the plan, so every later round would fail.
        polluted = [h for h, m in self.mains.items() if XOAUTH2_TRANSPORT in m["main"] + m["master"]]
        if polluted:
            raise SystemExit(f"bench: {', '.join(polluted)} still run a relay from an earlier run: take the lab down "
                             "(python -m tests.lab --state-dir <dir> down) and run the bench again")
        self.mig.store_credentials()

    def designate(self) -> dict:
        """The first host as the designated relay of the others: a lab-CA certificate for its address, and every
        host trusting the lab CA (Grafana and Django verify the relay against the system store only)."""
        from concurrent.futures import ThreadPoolExecutor

        from tests.integration.relay.conftest import DOMAIN
        from tests.lab.pki_bad import load_ca
        from tests.lab.trust import trust
        relay = self.lab.hosts[0]
        ca = load_ca(Path(self.lab.state["pki"]["ca"]), Path(self.lab.state["pki"]["ca_key"]), self.work / "pki")
        leaf = ca.issue("bench-relay", [relay["ip"]])
        self.lab.host_run(relay["name"], ["sh", "-c", 'install -D -m 0644 "$1" "$3" && install -D -m 0600 "$2" "$4"',
                                          "sh", str(leaf.cert), str(leaf.key), RELAY_CERT, RELAY_KEY])
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda h: trust(self.lab, h["name"]), self.lab.hosts))
        subnet = relay["ip"].rsplit(".", 1)[0] + ".0/24"
        return {"smtp_relay_listen": [relay["ip"]], "smtp_relay_allowed_networks": [subnet],
                "smtp_relay_tls_cert": RELAY_CERT, "smtp_relay_tls_key": RELAY_KEY,
                "smtp_relay_recipient_domains": [DOMAIN], "smtp_relay_rewrite_sender": False}

    def reset(self, hosts: list[str]) -> None:
        """The hosts as the lab made them: its Postfix, no app file, no relay, nothing queued."""
        from tests.integration.migrate.conftest import _reset_hosts
        _reset_hosts(self.lab, hosts, self.mains)
        for h in hosts:
            self.lab.host_run(h, ["sh", "-c", f"rm -rf {DIR} && mkdir -p {DIR} "
                                              f"/etc/grafana && printf '[server]\\nhttp_port = 3000\\n' > {GRAFANA}"])

    def playbook(self, playbook: str, hosts: list[str], inventory: Path | None = None):
        """ansible-playbook over hosts with the lab's inventory and the apps' (Migration.run's way otherwise),
        and a third inventory source after them when given (it outranks the apps')."""
        from tests.integration.configure.conftest import Run
        v = self.mig.base_vars(smtp_migrate_hosts=",".join(hosts),
                               smtp_migrate_serial=self.serial)
        vars_file = self.mig._private("vars", json.dumps(v))
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        env = dict(self.lab.env, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        # A timing callback for a profile, when the caller enables one (docs/performance.md says how).
        env.update({k: v for k, v in os.environ.items() if k.startswith(("ANSIBLE_CALLBACK", "TASKTIME_"))})
        argv = [exe, "-i", str(self.lab.inventory), "-i", str(self.apps_inventory)]
        argv += ["-i", str(inventory)] if inventory else []
        argv += [playbook, "-e", f"@{vars_file}"]
        if playbook != "mailops.smtp.migrate":
            argv += ["-l", ",".join(hosts)]
        p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(self.lab.dir), timeout=RUN_TIMEOUT,
                           check=False, stdin=subprocess.DEVNULL)
        run = Run(p.returncode, p.stdout, p.stderr)
        self.mig.assert_no_leak(run.output)
        return run

    def by_hand_inventory(self, migration: dict) -> Path:
        """What an operator would put in the inventory to reach migrate's end state without it: each host's
        new apps and the oauth2 credential, and on each relay host the relay migrate's plan set up."""
        oauth = self.mig.base_vars()["smtp_migrate_vault"]
        hosts = {}
        for h in migration["hosts"]:
            hosts[h["host"]] = {"smtp_configure_apps": h["configure_apps"], "mailops_smtp_vault": oauth}
            if h.get("relay"):
                hosts[h["host"]].update(h["relay"], smtp_relay_vault=oauth)
        f = self.mig._private("by-hand", json.dumps({"all": {"hosts": hosts}}))
        return f.rename(f.with_suffix(".json"))

    def run_by_hand(self, hosts: list[str], migration: dict) -> dict:
        """The same end state by hand, timed as one: `mailops.smtp.relay` on the relay hosts of the plan, then
        `mailops.smtp.configure` with the new apps over every host (docs/basic-auth-retirement.md's steps)."""
        inventory = self.by_hand_inventory(migration)
        relays = [h["host"] for h in migration["hosts"] if h.get("relay")]
        load = loadavg()
        t0 = time.monotonic()
        runs = [self.playbook("mailops.smtp.relay", relays, inventory)] if relays else []
        if not runs or runs[0].rc == 0:
            runs.append(self.playbook("mailops.smtp.configure", hosts, inventory))
        out = {"seconds": round(time.monotonic() - t0, 3), "rc": runs[-1].rc, "load_before": load}
        bad = [r for r in runs if r.rc != 0]
        out["invalid"] = f"exit {bad[0].rc}: {bad[0].output[-1500:]}" if bad else None
        for r in runs:
            self.mig.assert_no_leak(r.output)
        out["log"] = self.keep_log("by-hand", hosts, "\n".join(r.output for r in runs))
        return out

    def keep_log(self, name: str, hosts: list[str], output: str) -> str:
        log = RESULTS.parent / f"migrate-{name}-{len(hosts)}-{uuid.uuid4().hex[:6]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
        return str(log.relative_to(REPO))

    def run(self, playbook: str, hosts: list[str]) -> dict:
        self.mig.hosts = hosts
        load = loadavg()
        t0 = time.monotonic()
        r = self.playbook(playbook, hosts)
        out = {"seconds": round(time.monotonic() - t0, 3), "rc": r.rc, "load_before": load}
        out["invalid"] = None if r.rc == 0 else f"exit {r.rc}: {r.output[-1500:]}"
        # The whole output, for a failure's cause and where the time went (assert_no_leak checked it holds
        # no secret).
        out["log"] = self.keep_log(playbook.rsplit('.', 1)[-1], hosts, r.output)
        if playbook == "mailops.smtp.migrate":
            self.judge_migration(out, hosts)
        return out

    def judge_migration(self, out: dict, hosts: list[str]) -> None:
        try:
            report = self.mig.report()
        except (OSError, ValueError) as e:
            out["invalid"] = out["invalid"] or f"no migration.json: {e}"
            return
        timings = report.get("timings") or {}
        out["proof_wait_s"] = timings.get("proof_wait_s")
        out["proof_wait_wall_s"] = timings.get("proof_wait_wall_s")
        out["pacing_wait_s"] = timings.get("pacing_wait_s")
        statuses = {h["host"]: h["status"] for h in report.get("hosts", [])}
        not_moved = {h: s for h, s in statuses.items() if s != "moved"}
        refused = [(h["host"], a["name"]) for h in report.get("hosts", []) for a in h["apps"]
                   if a.get("proof_accepted") is not True]
        messages = {h["host"]: h.get("message") for h in report.get("hosts", []) if h.get("message")}
        if out["invalid"]:
            out["invalid"] = (f"state {report.get('state')}: {report.get('message')} | hosts: {messages} | "
                              + out["invalid"])
        elif report.get("state") != "done" or sorted(statuses) != sorted(hosts) or not_moved or refused:
            out["invalid"] = (f"state {report.get('state')}, not moved: {not_moved}, proofs not accepted: "
                              f"{refused}, message: {report.get('message')}, hosts: {messages}")
        elif out["proof_wait_wall_s"] is None or out["pacing_wait_s"] is None:
            out["invalid"] = "migration.json records no timings"
        if not out["invalid"]:
            out["own_seconds"] = round(out["seconds"] - out["proof_wait_wall_s"] - out["pacing_wait_s"], 3)

    def close(self, hosts: list[str]) -> None:
        self.reset(hosts)
        if self.designated:
            from concurrent.futures import ThreadPoolExecutor

            from tests.lab.trust import untrust
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda h: untrust(self.lab, h["name"]), self.lab.hosts))
            self.lab.host_run(self.lab.hosts[0]["name"], ["rm", "-rf", RELAY_CERT, RELAY_KEY,
                                                          str(Path(RELAY_CERT).parent)], check=False)
        self.mig.forget_credentials()


def inner(args) -> int:
    from tests.lab.fixtures import LabHandle
    from tests.lab.standins.handle import lab_standins
    lab = LabHandle.load()
    names = [h["name"] for h in lab.hosts]
    raw: dict = {f"{n}@{s}": [] for n in args.hosts for s in args.serial}
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="migrate-bench-") as tmp:
        bench = Bench(lab, lab_standins(Path(tmp) / "standins"), Path(tmp), APP_SETS[args.apps],
                      designated=args.apps == "designated")
        try:
            for i in range(args.runs):
                for n in args.hosts:
                    for serial in args.serial:
                        hosts = names[:n]
                        bench.serial = serial
                        bench.reset(hosts)
                        row = {"configure": bench.run("mailops.smtp.configure", hosts)}
                        if not row["configure"]["invalid"]:
                            row["migrate"] = bench.run("mailops.smtp.migrate", hosts)
                        if args.by_hand and not (row.get("migrate") or {"invalid": True})["invalid"]:
                            # The same move without migrate, from the same start: the fleet on basic auth.
                            migration = bench.mig.report()
                            bench.reset(hosts)
                            row["configure_again"] = bench.run("mailops.smtp.configure", hosts)
                            if not row["configure_again"]["invalid"]:
                                row["by_hand"] = bench.run_by_hand(hosts, migration)
                        raw[f"{n}@{serial}"].append(row)
                        print(f"bench: round {i + 1} N={n} serial {serial}: " + json.dumps(row), flush=True)
        finally:
            bench.close(names[:max(args.hosts)])
    report = summarise(raw, args, started)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS.read_text()).get("runs", []) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps({"runs": history + [{"summary": report, "raw": raw}]}, indent=2) + "\n")
    text = render(report)
    print(text)
    if args.update_doc:
        update_doc_block("migrate-bench", text, heading="Migrate beside configure")
    return 1 if report["invalid_runs"] or not report["target_met"] else 0


def _median(values: list) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summarise(raw: dict, args, started: str) -> dict:
    out = {"when": started, "runs": args.runs, "serial": args.serial, "apps": args.apps,
           "app_list": [a.get("path") and f"{a['preset']} {a['path']}" or a["preset"] for a in APP_SETS[args.apps]],
           "rows": [],
           "invalid_runs": 0, "invalid": [], "target_met": True, "target_met_by_hand": bool(args.by_hand),
           "load_average_after": loadavg()}
    for key, rounds in raw.items():
        n, serial = key.split("@", 1)
        conf = [r[k] for r in rounds for k in ("configure", "configure_again") if k in r]
        by_hand = [r["by_hand"]["seconds"] for r in rounds if "by_hand" in r and not r["by_hand"]["invalid"]]
        bad_by_hand = [r["by_hand"]["invalid"] for r in rounds if "by_hand" in r and r["by_hand"]["invalid"]]
        mig = [r["migrate"] for r in rounds if "migrate" in r]
        good_conf = [r["seconds"] for r in conf if not r["invalid"]]
        good_mig = [r for r in mig if not r["invalid"]]
        bad = [r["invalid"] for r in conf + mig if r["invalid"]] + bad_by_hand
        out["invalid_runs"] += len(bad)
        out["invalid"] += [f"N={n} serial {serial}: {b[-400:]}" for b in bad]
        med = {"configure": _median(good_conf), "migrate": _median([r["seconds"] for r in good_mig]),
               "waits": _median([r["proof_wait_wall_s"] + r["pacing_wait_s"] for r in good_mig]),
               "own": _median([r["own_seconds"] for r in good_mig]), "by_hand": _median(by_hand)}
        ratio = round(med["own"] / med["configure"], 2) if med["own"] and med["configure"] else None
        ratio_by_hand = round(med["own"] / med["by_hand"], 2) if med["own"] and med["by_hand"] else None
        if ratio is None or ratio > TARGET_RATIO:
            out["target_met"] = False
        if ratio_by_hand is None or ratio_by_hand > TARGET_RATIO:
            out["target_met_by_hand"] = False
        out["rows"].append({"hosts": int(n), "serial": serial,
                            "counted": {"configure": len(good_conf), "migrate": len(good_mig), "by_hand": len(by_hand)},
                            "load_before": [r["load_before"][0] for r in conf + mig], "ratio": ratio,
                            "ratio_by_hand": ratio_by_hand, **med})
    return out


def render(report: dict) -> str:
    lines = [f"{report['when']}: medians of the runs that counted, of {report['runs']} rounds, seconds around "
             f"`ansible-playbook`; {len(report['app_list'])} app(s) a host ({', '.join(report['app_list'])}), apps "
             f"`{report['apps']}`. The target: migrate minus its recorded waits at most {TARGET_RATIO} x "
             "configure. Two configure runs stand beside it: configure putting the fleet on basic auth (each round "
             "runs it twice, both counted), and by hand, the same end state as migrate's without it "
             "(`mailops.smtp.relay` on the relay hosts of migrate's plan, then `mailops.smtp.configure` with the "
             "new apps, from the fleet on basic auth).", "",
             "| hosts | migrate's serial | configure (basic) | by hand (relay + configure) | migrate | recorded waits "
             "(proofs; pacing 0) | migrate minus waits | ratio to configure (basic) | ratio to by hand | runs "
             "counted (configure / migrate / by hand) | 1-min load before each run (the configure runs, then "
             "the migrate runs) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in report["rows"]:
        load = ", ".join(f"{x:.1f}" for x in r["load_before"])
        c = r["counted"]
        lines.append(f"| {r['hosts']} | {r['serial']} | {r['configure']} | {r['by_hand']} | {r['migrate']} | "
                     f"{r['waits']} | {r['own']} | {r['ratio']} | {r['ratio_by_hand']} | "
                     f"{c['configure']} / {c['migrate']} / {c['by_hand']} | {load} |")
    lines += ["", f"Target met against configure on basic auth: {'yes' if report['target_met'] else 'no'}; "
                  f"against the same end state by hand: {'yes' if report['target_met_by_hand'] else 'no'}."]
    if report["invalid_runs"]:
        lines += ["", f"{report['invalid_runs']} runs did not count (see bench/results/migrate.json)."]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=_ints, default=[10, 25])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--serial", type=lambda t: [x.strip() for x in t.split(",") if x.strip()], default=["10%"],
                    help="smtp_migrate_serial values, comma-separated, each measured (default: the playbook's, 10%%)")
    ap.add_argument("--apps", choices=sorted(APP_SETS), default="designated",
                    help="the apps a host: designated (msmtp, Grafana and Django, the first host the others' relay), "
                         "relay (the same through a relay on each host: at most 2 hosts) or msmtp (msmtp alone, "
                         "to XOAUTH2)")
    ap.add_argument("--by-hand", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the same end state by hand (relay + configure; about as long again as "
                         "configure twice a round)")
    add_lab_options(ap, ".lab-bench-migrate")
    args = ap.parse_args(argv)
    return dispatch(inner, args, argv, __file__, max(args.hosts))


if __name__ == "__main__":
    sys.exit(main())
