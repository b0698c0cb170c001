# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-host faults: firewall rules, latency, missing DNS entries, unwritable paths.

Each knob acts inside one host's own namespaces, so it never touches another
host, the controller or the machine. `clear()` undoes all of them.
"""

from __future__ import annotations

from pathlib import Path

from .sysutil import in_host, in_ns, run

TABLE = "mailops_lab"


def _host(state: dict, name: str) -> dict:
    for h in state["hosts"]:
        if h["name"] == name:
            return h
    raise KeyError(f"no lab host named {name!r}")


def firewall(state: dict, name: str, port: int, action: str = "drop", dst: str | None = None) -> None:
    """Drop (a timeout) or reject with a TCP reset (connection refused) outgoing traffic."""
    if action not in ("drop", "reject"):
        raise ValueError("action is drop or reject")
    h = _host(state, name)
    verdict = "drop" if action == "drop" else "reject with tcp reset"
    match = f"ip daddr {dst} " if dst else ""
    rules = (f"add table inet {TABLE}\n"
             f"add chain inet {TABLE} out {{ type filter hook output priority 0; }}\n"
             f"add rule inet {TABLE} out {match}tcp dport {int(port)} {verdict}\n")
    run(in_ns(h["ns"], ["nft", "-f", "-"]), input=rules)


def ssh_down(state: dict, name: str) -> None:
    """The host refuses SSH (a TCP reset on port 22, established connections included): Ansible finds it
    unreachable at once, as a host that is down, without waiting for a timeout. `clear()` brings it back."""
    h = _host(state, name)
    rules = (f"add table inet {TABLE}\n"
             f"add chain inet {TABLE} in {{ type filter hook input priority 0; }}\n"
             f"add rule inet {TABLE} in tcp dport 22 reject with tcp reset\n")
    run(in_ns(h["ns"], ["nft", "-f", "-"]), input=rules)


def _delay_rule(state: dict, h: dict, peer: str) -> list[tuple[str, list[str]]]:
    """The two iptables rule specs (namespace, spec) that queue a host<->peer flow."""
    # Held on arrival (INPUT), not on departure: a sender's packets held in its
    # own output path count against TCP Small Queues, which then holds back the
    # next segment of a multi-line reply by the whole delay. A wire does not.
    q = ["-j", "NFQUEUE", "--queue-num", str(_queue(h))]
    return [(h["ns"], ["INPUT", "-s", f"{peer}/32", *q]),
            (state["ctl_ns"], ["INPUT", "-s", f"{h['ip']}/32", "-d", f"{peer}/32", *q])]


def _queue(h: dict) -> int:
    return int(h["name"].removeprefix("host"))


def latency(state: dict, name: str, ms: int, peer: str | None = None) -> None:
    """Add `ms` each way between a host and a peer address (default: the SMTP stand-in).

    The kernel here has no netem, so packets of that flow go through an NFQUEUE
    that `tests.lab.delayq` releases `ms` later (see its docstring). Matched by
    address in both directions, so SSH from the controller address is not slowed.
    """
    import subprocess
    import sys
    import time
    from .core import REPO
    h = _host(state, name)
    clear_latency(state, name)
    peer = peer or state["addresses"]["smtp"]
    ddir = Path(state["state_dir"]) / "delay"
    ddir.mkdir(exist_ok=True)
    rules = _delay_rule(state, h, peer)
    for ns, spec in rules:
        log = ddir / f"{ns}-{_queue(h)}.log"
        log.write_text("")
        proc = subprocess.Popen(
            in_ns(ns, [sys.executable, "-m", "tests.lab.delayq", "--queue", str(_queue(h)), "--ms", str(ms)]),
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        (ddir / f"{ns}-{_queue(h)}.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + 10
        while "delayq:" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"delay queue did not start: {log.read_text()}")
            time.sleep(0.02)
        run(in_ns(ns, ["iptables", "-w", "-A", *spec]))
    (ddir / f"{name}.peer").write_text(peer)


def clear_latency(state: dict, name: str) -> None:
    import os
    import signal
    h = _host(state, name)
    ddir = Path(state["state_dir"]) / "delay"
    peer_file = ddir / f"{name}.peer"
    if not peer_file.exists():
        return
    for ns, spec in _delay_rule(state, h, peer_file.read_text()):
        run(in_ns(ns, ["iptables", "-w", "-D", *spec]), check=False)
        pid_file = ddir / f"{ns}-{_queue(h)}.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass
            pid_file.unlink()
    peer_file.unlink()


def remove_name(state: dict, name: str, hostname: str = "smtp.office365.com") -> None:
    """The host's own hosts file loses one name: a DNS failure on that host only."""
    h = _host(state, name)
    text = run(in_host(h["pid"], ["cat", "/etc/hosts"])).stdout
    kept = "".join(line + "\n" for line in text.splitlines() if hostname not in line.split()[1:])
    run(in_host(h["pid"], ["sh", "-c", "cat > /etc/hosts"]), input=kept)


def restore_names(state: dict, name: str) -> None:
    h = _host(state, name)
    text = state["hosts_file"].replace(
        f"{h['ip']}\t{name}.lab.test {name}", f"{h['ip']}\t{name}.lab.test {name}\n127.0.1.1\t{name}")
    run(in_host(h["pid"], ["sh", "-c", "cat > /etc/hosts"]), input=text)


def readonly(state: dict, name: str, path: str) -> None:
    """Root ignores file modes; a read-only bind mount is what makes a path unwritable."""
    h = _host(state, name)
    run(in_host(h["pid"], ["mount", "--bind", path, path]))
    run(in_host(h["pid"], ["mount", "-o", "remount,bind,ro", path]))


def small_disk(state: dict, name: str, path: str, size: str = "64k") -> None:
    """A tiny tmpfs over a directory, keeping its current files: a disk that fills up."""
    h = _host(state, name)
    script = (f"set -e; t=$(mktemp -d); cp -a {path}/. $t/; "
              f"mount -t tmpfs -o size={size} lab-small {path}; cp -a $t/. {path}/ 2>/dev/null || true; rm -rf $t")
    run(in_host(h["pid"], ["sh", "-c", script]))


def unmount(state: dict, name: str, path: str) -> None:
    h = _host(state, name)
    run(in_host(h["pid"], ["umount", path]), check=False)


def clear(state: dict, name: str) -> None:
    h = _host(state, name)
    run(in_ns(h["ns"], ["nft", "delete", "table", "inet", TABLE]), check=False)
    clear_latency(state, name)
    restore_names(state, name)
