# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the secret-leak suite: process samplers, host snapshots, marker scans.

Markers are never put on a command line or in an environment here: the host-side scripts
read them from stdin, so that the samplers measure the collection and not this test.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.sysutil import in_host

SAMPLE_EVERY = 0.05
SAMPLER_LIFETIME = 900  # seconds; a sampler that is never stopped still ends
SAMPLER_OUT = "/var/tmp/mailops-sec-sampler-{}.jsonl"

# Runs on a lab host (its stdlib Python): records every distinct (cmdline, environ) of the
# processes in the host's mount namespace (sshd, the shells and the modules Ansible starts).
HOST_SAMPLER = r"""
import json, os, signal, sys, time
out, lifetime, every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
me = os.getpid()
mine = os.readlink("/proc/self/ns/mnt")
seen, stop, foreign = set(), [], set()
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
deadline = time.time() + lifetime
rounds = 0
with open(out, "w") as fh:
    fh.write(json.dumps({"started": True}) + "\n")
    fh.flush()
    while not stop and time.time() < deadline:
        pids = set(p for p in os.listdir("/proc") if p.isdigit())
        foreign &= pids  # a pid that went away may come back for another process
        for pid in pids - foreign:
            if int(pid) == me:
                continue
            try:
                if os.readlink("/proc/%s/ns/mnt" % pid) != mine:
                    foreign.add(pid)
                    continue
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if (cmd, env) in seen:
                continue
            seen.add((cmd, env))
            fh.write(json.dumps({"pid": int(pid), "cmdline": cmd.decode("utf-8", "replace"),
                                 "environ": env.decode("utf-8", "replace")}) + "\n")
            fh.flush()
        rounds += 1
        time.sleep(every)
    fh.write(json.dumps({"rounds": rounds}) + "\n")
"""

# Runs on a lab host: the files under the given roots that hold any marker (markers on stdin).
HOST_GREP = r"""
import json, os, sys
markers = [m.encode() for m in json.loads(sys.stdin.read())]
skip_prefix, since = sys.argv[1], float(sys.argv[2])
prune = ("/root/.pyenv", "/root/.cache", "/var/cache", "/var/lib/dpkg", "/var/lib/apt", "/usr/local/lib/python")
hits = {}
for root in sys.argv[3:]:
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not os.path.join(d, x).startswith(prune)]
        for name in files:
            p = os.path.join(d, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            # Only what changed since the runs began can hold a marker of this run.
            if p.startswith(skip_prefix) or not os.path.isfile(p) or os.path.islink(p) or \
                    max(st.st_mtime, st.st_ctime) < since:
                continue
            try:
                with open(p, "rb") as f:
                    data = f.read(32 * 1024 * 1024)
            except OSError:
                continue
            found = [i for i, m in enumerate(markers) if m in data]
            if found:
                hits[p] = {"markers": found, "mode": "%04o" % (st.st_mode & 0o7777), "uid": st.st_uid,
                           "gid": st.st_gid}
print(json.dumps(hits))
"""

HOST_ROOTS = ["/etc", "/var", "/root", "/srv", "/opt", "/usr/local", "/home"]


def new_marker(kind: str) -> str:
    # Letters and digits only: the same bytes in JSON, YAML, URLs, shell and config syntax.
    return f"Mk{kind}{secrets.token_hex(12)}"


@dataclass
class ControllerSampler:
    """Every ~50 ms, the cmdline and environ of each process in the controller's network namespace."""
    records: list = field(default_factory=list)
    rounds: int = 0

    def __post_init__(self):
        self._stop = threading.Event()
        self._seen = set()
        self._me = os.getpid()
        self._net = os.readlink("/proc/self/ns/net")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "ControllerSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        deadline = time.monotonic() + SAMPLER_LIFETIME
        foreign = set()
        while not self._stop.is_set() and time.monotonic() < deadline:
            pids = {p for p in os.listdir("/proc") if p.isdigit()}
            foreign &= pids
            for pid in pids - foreign:
                if int(pid) == self._me:
                    continue
                try:
                    if os.readlink(f"/proc/{pid}/ns/net") != self._net:
                        foreign.add(pid)
                        continue
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                    env = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
                if (cmd, env) in self._seen:
                    continue
                self._seen.add((cmd, env))
                self.records.append({"pid": int(pid), "cmdline": cmd.decode("utf-8", "replace"),
                                     "environ": env.decode("utf-8", "replace")})
            self.rounds += 1
            self._stop.wait(SAMPLE_EVERY)


class HostSampler:
    """HOST_SAMPLER started in a lab host's namespaces, in the background, before a run.

    Its dump is read through /proc/<host pid>/root: the host's own view of its files.
    """

    def __init__(self, lab, host: str):
        self.lab, self.host = lab, host
        self.out = SAMPLER_OUT.format(secrets.token_hex(6))
        h = lab.host(host)
        self.view = Path(f"/proc/{h['pid']}/root{self.out}")
        self.proc = subprocess.Popen(in_host(h["pid"], ["python3", "-c", HOST_SAMPLER, self.out,
                                                        str(SAMPLER_LIFETIME), str(SAMPLE_EVERY)]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_started(self) -> "HostSampler":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.view.exists() and self.view.stat().st_size:
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"the sampler on {self.host} died: {self.proc.stderr.read()!r}")
            time.sleep(0.05)
        raise AssertionError(f"the sampler on {self.host} did not start")

    def stop(self) -> tuple[list, int]:
        """(records, rounds) sampled on the host; the dump file is removed."""
        if self.proc.poll() is None:
            self.proc.terminate()  # nsenter execs the sampler: this pid is the sampler itself
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        text = self.view.read_text() if self.view.exists() else ""
        self.view.unlink(missing_ok=True)
        records, rounds = [], 0
        for line in text.splitlines():
            rec = json.loads(line)
            if "pid" in rec:
                records.append(rec)
            rounds = rec.get("rounds", rounds)
        return records, rounds


def host_grep(lab, host: str, markers: list[str], since: float, roots=None) -> dict:
    """{path: {markers: [index], mode, uid, gid}} of every file on the host changed since `since`
    (epoch seconds) that holds a marker."""
    p = lab.host_run(host, ["python3", "-c", HOST_GREP, SAMPLER_OUT.split("{", maxsplit=1)[0], str(since),
                            *(roots or HOST_ROOTS)],
                     input=json.dumps(markers), timeout=120)
    return json.loads(p.stdout)


def scan_text(name: str, text: str, markers: dict) -> list[str]:
    return [f"{kind} in {name}" for kind, m in markers.items() if m in text]


def scan_tree(root: Path, markers: dict, exclude=()) -> list[str]:
    hits = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file() or p in exclude:
            continue
        data = p.read_bytes()
        hits += [f"{kind} in {p}" for kind, m in markers.items() if m.encode() in data]
    return hits


def scan_processes(where: str, records: list, markers: dict) -> list[str]:
    hits = []
    for r in records:
        for part in ("cmdline", "environ"):
            for kind, m in markers.items():
                if m in r[part]:
                    hits.append(f"{kind} in the {part} of pid {r['pid']} on {where}: "
                                f"{r['cmdline'].replace(chr(0), ' ')[:200]}")
    return hits


def snapshot(lab, host: str, paths: list[str]) -> str:
    """Tar the given paths (those that exist) inside the host; returns the archive's path."""
    archive = f"/var/tmp/mailops-sec-snap-{secrets.token_hex(6)}.tar"
    script = ('a=$1; shift; set -- $(for p in "$@"; do [ -e "$p" ] && echo "${p#/}"; done); '
              'tar -C / -cpf "$a" --files-from /dev/null "$@"')
    lab.host_run(host, ["sh", "-c", script, "sh", archive, *paths])
    return archive


def restore(lab, host: str, archive: str, paths: list[str], extra_rm: str = "") -> None:
    lab.host_run(host, ["sh", "-c", f'a=$1; shift; rm -rf "$@"; {extra_rm} tar -C / -xpf "$a" && rm -f "$a"',
                        "sh", archive, *paths])
