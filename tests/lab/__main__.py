# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line of the lab: `python -m tests.lab up --hosts 3`, `down`, knobs.

Run from the repository root, as root, with the test venv's Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import knobs
from .core import Lab
from .sysutil import LabError, in_host


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab")
    ap.add_argument("--state-dir", type=Path, default=None,
                    help="where the lab keeps its state (default: .lab in the checkout)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="tear down any leftovers of this checkout's lab, then start one")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--no-postfix", action="store_true")
    up.add_argument("--no-standins", action="store_true")
    sub.add_parser("down", help="tear this checkout's lab down")
    sub.add_parser("status", help="print the lab's state")
    sub.add_parser("leftovers", help="list namespaces, links, processes and mounts of this lab")
    fw = sub.add_parser("firewall", help="drop or reject a host's outgoing traffic to a port")
    fw.add_argument("host")
    fw.add_argument("port", type=int)
    fw.add_argument("action", choices=["drop", "reject"])
    fw.add_argument("--dst")
    lat = sub.add_parser("latency", help="add latency each way between a host and a peer")
    lat.add_argument("host")
    lat.add_argument("ms", type=int)
    lat.add_argument("--peer")
    nd = sub.add_parser("nodns", help="remove a name from a host's hosts file")
    nd.add_argument("host")
    nd.add_argument("--name", default="smtp.office365.com")
    ro = sub.add_parser("readonly", help="make a path on a host read-only")
    ro.add_argument("host")
    ro.add_argument("path")
    sd = sub.add_parser("smalldisk", help="put a small tmpfs over a directory on a host")
    sd.add_argument("host")
    sd.add_argument("path")
    sd.add_argument("--size", default="64k")
    cl = sub.add_parser("clear", help="undo every knob on a host")
    cl.add_argument("host")
    sub.add_parser("seed-vault", help="store the stand-in credentials in OpenBao; write .lab/vars.yml")
    ex = sub.add_parser("exec", help="run a command inside a host")
    ex.add_argument("host")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    lab = Lab(args.state_dir)
    try:
        if args.cmd == "up":
            state = lab.up(args.hosts, postfix=not args.no_postfix, standins=not args.no_standins)
            print(f"lab {state['prefix']} up: {len(state['hosts'])} hosts on {state['subnet']} "
                  f"in {state['up_seconds']}s; env: {lab.dir / 'env'}; run inside it with {lab.dir / 'ctl-exec'}")
        elif args.cmd == "down":
            before = lab.down()
            print(f"lab {lab.ident.prefix} down: removed {len(before['namespaces'])} namespaces, "
                  f"{len(before['pids'])} processes")
        elif args.cmd == "status":
            print(json.dumps(lab.load(), indent=2))
        elif args.cmd == "leftovers":
            left = lab.leftovers()
            print(json.dumps(left, indent=2))
            return 1 if any(left.values()) else 0
        else:
            state = lab.load()
            if args.cmd == "firewall":
                knobs.firewall(state, args.host, args.port, args.action, args.dst)
            elif args.cmd == "latency":
                knobs.latency(state, args.host, args.ms, args.peer)
            elif args.cmd == "nodns":
                knobs.remove_name(state, args.host, args.name)
            elif args.cmd == "readonly":
                knobs.readonly(state, args.host, args.path)
            elif args.cmd == "smalldisk":
                knobs.small_disk(state, args.host, args.path, args.size)
            elif args.cmd == "clear":
                knobs.clear(state, args.host)
            elif args.cmd == "seed-vault":
                from .vaultseed import seed
                print(f"seeded OpenBao; role settings in {seed(state)}")
            elif args.cmd == "exec":
                import os
                h = knobs._host(state, args.host)
                cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
                os.execvp("nsenter", in_host(h["pid"], cmd))
    except (LabError, KeyError, ValueError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
