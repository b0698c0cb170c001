# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the probe tests: mailops.smtp.probe on lab hosts, in batches, and what the stand-ins saw.

One ansible-playbook run covers many cases: a play is a list of rounds, and each round
1. resets the stand-ins (unless told not to) and applies its control operations,
2. runs ONE probe task on every host of the round at once, each host with its own arguments,
3. snapshots the stand-ins' counters and received messages.
Stand-in faults are global, so cases that need different faults go in different rounds;
cases that need only host knobs (firewall, names) share a round on different hosts.
The test reads each host's registered result and the round's counters afterwards.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.lab.core import REPO
from tests.lab.sysutil import in_ns, run

# Short network timeouts keep fault cases fast; a case overrides them when it needs to.
FAST = {"timeout": 3, "connect_timeout": 2}
COUNT_TABLE = "mailops_probe_count"

# Between two rounds, one local command reports what the stand-ins have seen so far (the end
# of the round before), sets them up for the next round, and reports again (its start).
_CONTROL_SCRIPT = (
    "import json, sys\n"
    "from tests.lab.standins.control import StandinControl\n"
    "c = StandinControl(sys.argv[1])\n"
    "def seen():\n"
    "    print(json.dumps({'counters': c.counters(), 'messages': c.messages()}))\n"
    "seen()\n"
    "if sys.argv[2] != '-':\n"
    "    for op, args in json.load(open(sys.argv[2])):\n"
    "        c.call(op, **args)\n"
    "    seen()\n"
)


@dataclass
class Round:
    """One step of a play: stand-in setup, then one probe per host (host -> module args)."""
    name: str
    cases: dict
    control: list = field(default_factory=list)   # [(op, {args})], applied after a reset
    check_mode: bool = False
    reset: bool = True    # False keeps what the test set up itself (e.g. sessions it holds open)


@dataclass
class PlayResult:
    rc: int
    stdout: str
    stderr: str
    results: dict     # round name -> host -> registered result
    seen: dict        # round name -> {"start"|"end": {"counters": ..., "messages": [...]}}

    def case(self, round_name: str, host: str) -> dict:
        return self.results[round_name][host]

    def counters(self, round_name: str) -> dict:
        """What the stand-ins counted during the round (counts at its end minus those at its start)."""
        seen = self.seen[round_name]
        return _delta(seen["end"]["counters"], seen["start"]["counters"])

    def messages(self, round_name: str) -> list:
        """Messages the stand-ins received during the round."""
        seen = self.seen[round_name]
        return seen["end"]["messages"][len(seen["start"]["messages"]):]


def _delta(end, start):
    if isinstance(end, dict):
        start = start if isinstance(start, dict) else {}
        return {k: _delta(v, start.get(k)) for k, v in end.items()}
    if isinstance(end, int) and not isinstance(end, bool):
        return end - (start if isinstance(start, int) else 0)
    return end


def _probe_task(index: int, rnd: Round) -> dict:
    keys = sorted({k for args in rnd.cases.values() for k in args})
    var = f"probe_rounds[{index}].cases[inventory_hostname]"
    return {
        "name": f"probe: {rnd.name}",
        "mailops.smtp.probe": {k: "{{ %s[%s] | default(omit) }}" % (var, json.dumps(k)) for k in keys},
        "when": f"inventory_hostname in probe_rounds[{index}].cases",
        "check_mode": rnd.check_mode,
        # The module fails the task when the probe is not ok; the result is what we check.
        "failed_when": False,
        "register": f"probe_r{index}",
    }


def build_playbook(rounds: list[Round], work: Path, socket_path: str) -> tuple[list, dict]:
    hosts = sorted({h for r in rounds for h in r.cases})
    control = ["{{ ansible_playbook_python }}", "-c", _CONTROL_SCRIPT, socket_path]
    local = {"run_once": True, "delegate_to": "localhost", "changed_when": False}
    tasks = []
    for i, rnd in enumerate(rounds):
        ops = work / f"ops-{i}.json"
        ops.write_text(json.dumps([["reset", {}]] * rnd.reset + [[op, args] for op, args in rnd.control]))
        tasks.append({"name": f"stand-ins: {rnd.name}",
                      "ansible.builtin.command": {"argv": control + [str(ops)], "chdir": str(REPO)},
                      "register": f"step_{i}", **local})
        tasks.append(_probe_task(i, rnd))
    tasks.append({"name": "stand-ins: seen in the last round",
                  "ansible.builtin.command": {"argv": control + ["-"], "chdir": str(REPO)},
                  "register": f"step_{len(rounds)}", **local})
    collected = ", ".join(
        "%s: {'results': {%s}, 'start': step_%d.stdout_lines[-1] | from_json, "
        "'end': step_%d.stdout_lines[0] | from_json}" % (
            json.dumps(rnd.name), ", ".join("%s: hostvars[%s]['probe_r%d']" % (json.dumps(h), json.dumps(h), i)
                                            for h in sorted(rnd.cases)), i, i + 1)
        for i, rnd in enumerate(rounds))
    tasks.append({"name": "collect the results",
                  "ansible.builtin.copy": {"content": "{{ {%s} | to_json }}" % collected,
                                           "dest": str(work / "results.json"), "mode": "0600"},
                  **local})
    play = [{"name": "probe cases", "hosts": ",".join(hosts), "gather_facts": False, "tasks": tasks}]
    extra = {"probe_rounds": [{"name": r.name, "cases": r.cases} for r in rounds]}
    return play, extra


class Runner:
    def __init__(self, lab, standins, work: Path):
        self.lab = lab
        self.standins = standins
        self.work = work
        self._n = 0

    def play(self, rounds: list[Round], *, verbosity: int = 0, timeout: float = 300,
             expect_rc_ok: bool = True) -> PlayResult:
        self._n += 1
        work = self.work / f"play-{self._n}"
        work.mkdir(parents=True)
        play, extra = build_playbook(rounds, work, self.standins.control.socket_path)
        (work / "play.yml").write_text(json.dumps(play, indent=1))
        (work / "vars.json").write_text(json.dumps(extra))
        args = [str(work / "play.yml"), "-e", f"@{work / 'vars.json'}"]
        if verbosity:
            args.insert(0, "-" + "v" * verbosity)
        proc = self.lab.ansible(args, timeout=timeout)
        out = work / "results.json"
        if expect_rc_ok and (proc.returncode != 0 or not out.exists()):
            pytest.fail(f"ansible-playbook exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
                        f"\n--- stderr\n{proc.stderr[-3000:]}")
        data = json.loads(out.read_text()) if out.exists() else {}
        return PlayResult(proc.returncode, proc.stdout, proc.stderr,
                          {k: v["results"] for k, v in data.items()},
                          {k: {"start": v["start"], "end": v["end"]} for k, v in data.items()})

    def play_in_background(self, rounds: list[Round], **kw):
        """Start a play in a thread; returns (thread, box) where box["result"] is set when done."""
        box: dict = {}

        def work():
            try:
                box["result"] = self.play(rounds, expect_rc_ok=False, **kw)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                box["error"] = exc
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread, box


class HostKnobs:
    """Host knobs for a module-scoped batch; every touched host is cleared on exit."""

    def __init__(self, lab):
        self.lab = lab
        self.touched: set = set()
        self.counting: set = set()

    def __getattr__(self, name):
        fn = getattr(self.lab, name)

        def call(host, *a, **kw):
            self.touched.add(host)
            return fn(host, *a, **kw)
        return call

    def count_syns(self, host: str, port: int) -> None:
        """Record the source port of every SYN the host sends to `port`: one per connect() call,
        however often the kernel retransmits it."""
        h = self.lab.host(host)
        rules = (f"add table inet {COUNT_TABLE}\n"
                 f"add set inet {COUNT_TABLE} syns {{ type inet_service; flags dynamic; size 4096; }}\n"
                 f"add chain inet {COUNT_TABLE} out {{ type filter hook output priority -10; }}\n"
                 f"add rule inet {COUNT_TABLE} out tcp dport {int(port)} tcp flags syn add @syns {{ tcp sport }}\n")
        run(in_ns(h["ns"], ["nft", "-f", "-"]), input=rules)
        self.counting.add(host)

    def connect_attempts(self, host: str) -> int:
        h = self.lab.host(host)
        out = run(in_ns(h["ns"], ["nft", "-j", "list", "set", "inet", COUNT_TABLE, "syns"])).stdout
        for item in json.loads(out)["nftables"]:
            if "set" in item:
                return len(item["set"].get("elem", []))
        return 0

    def close(self) -> None:
        for host in self.counting:
            run(in_ns(self.lab.host(host)["ns"], ["nft", "delete", "table", "inet", COUNT_TABLE]), check=False)
        for host in self.touched:
            self.lab.clear(host)


def submission_args(standins, **extra) -> dict:
    """A probe of 587 on the SMTP stand-in, trusting the lab CA."""
    args = {"profile": "m365", "ports": [587], "ca_path": standins.ca, **FAST}
    args.update(extra)
    return args


def password_auth(standins, mailbox: str | None = None, password: str | None = None, **extra) -> dict:
    """LOGIN credentials; by default the lab mailbox's right password."""
    return {"username": mailbox or standins.mailbox,
            "password": standins.password if password is None else password, **extra}


def diag(result: dict, port: int | str) -> str | None:
    d = result["ports"][str(port)]["diagnosis"]
    return d["code"] if d else None


def stage(result: dict, port: int | str, name: str) -> dict:
    found = [s for s in result["ports"][str(port)]["stages"] if s["name"] == name]
    assert found, f"no stage {name} on port {port}: {result['ports'][str(port)]['stages']}"
    return found[-1]


def fetch_token(standins, timeout: float = 5) -> str:
    """An app-only token from the Entra stand-in (client credentials), as an application would get it."""
    app = standins.app
    url = f"{standins.entra_url}/{urllib.parse.quote(app.tenant_id)}/oauth2/v2.0/token"
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": app.client_id,
                                   "client_secret": app.secret,
                                   "scope": "https://outlook.office365.com/.default"}).encode()
    ctx = ssl.create_default_context(cafile=standins.ca)
    with urllib.request.urlopen(urllib.request.Request(url, data=form, method="POST"),
                                timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read())["access_token"]


class HeldSessions:
    """SMTP sessions of one mailbox held open from the test, each in the middle of sending
    (MAIL, RCPT and DATA accepted, the body not ended), to use up the mailbox's limit of
    connections sending at once: another connection's message then gets 432 4.3.2 after its
    body. `sending=False` holds logins only, which Microsoft 365 does not limit."""

    def __init__(self, standins, count: int, mailbox: str | None = None, password: str | None = None,
                 sending: bool = True):
        self.sessions = []
        self.sending = sending
        host, port = standins.smtp_addr
        mailbox = mailbox or standins.mailbox
        ctx = ssl.create_default_context(cafile=standins.ca)
        try:
            for _session in range(count):
                client = smtplib.SMTP(host, port, timeout=10)
                self.sessions.append(client)
                client.ehlo("holder.lab")
                client.starttls(context=ctx)
                client.ehlo("holder.lab")
                client.login(mailbox, password or standins.password)
                if sending:
                    client.mail(mailbox)
                    client.rcpt(mailbox)
                    code, reply = client.docmd("DATA")
                    assert code == 354, reply
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for client in self.sessions:
            if self.sending:
                # Mid-body: closing the connection drops the message, as a client that dies would.
                client.close()
                continue
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
        self.sessions = []
