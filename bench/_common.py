# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: the parts every bench/*_bench.py shares.

- run_in_lab: the "outer" half of a bench (a lab under a state dir, the script again inside the
  controller namespace with MAILOPS_BENCH_INNER set, the lab down again if this run started it);
- ensure_pkg_venv: the venv holding the `ansible` community package (it pins its own ansible-core);
- update_doc_block: rewrite one bench's marked block in docs/performance.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DOC = REPO / "docs" / "performance.md"
PKG_VENV = REPO / ".venv-ansible-pkg"
PKG_REQUIREMENTS_FILE = REPO / "bench" / "requirements-ansible-pkg.txt"
# The venv remembers what it was built from, so that a changed requirements file rebuilds it.
PKG_MARKER = PKG_VENV / "bench-requirements.txt"
LAB_UP_TIMEOUT = 900
LAB_DOWN_TIMEOUT = 600


def _lab_hosts(state: Path) -> int:
    lab_json = state / "lab.json"
    if not lab_json.exists():
        return 0
    return len(json.loads(lab_json.read_text())["hosts"])


def run_in_lab(script: str, argv: list, state_dir: str, hosts: int, keep_lab: bool) -> int:
    """Run `script argv` inside a lab of at least `hosts` hosts; the exit code of that run.

    A lab already up under state_dir with enough hosts is used as it is and left running;
    one started here is taken down afterwards unless keep_lab.
    """
    state = (REPO / state_dir).resolve()
    py = sys.executable
    started = False
    if _lab_hosts(state) < hosts:
        print(f"bench: starting a lab of {hosts} hosts in {state}", flush=True)
        subprocess.run([py, "-m", "tests.lab", "--state-dir", str(state), "up", "--hosts", str(hosts)],
                       cwd=REPO, check=True, timeout=LAB_UP_TIMEOUT)
        started = True
    try:
        env = dict(os.environ, MAILOPS_LAB_STATE=str(state), MAILOPS_BENCH_INNER="1")
        return subprocess.run([str(state / "ctl-exec"), py, str(Path(script).resolve()), *argv],
                              cwd=REPO, env=env, check=False).returncode
    finally:
        if started and not keep_lab:
            subprocess.run([py, "-m", "tests.lab", "--state-dir", str(state), "down"], cwd=REPO,
                           check=False, timeout=LAB_DOWN_TIMEOUT)


def pkg_requirements() -> list:
    """The pinned requirements of the `ansible` package venv, comments left out."""
    return [line.strip() for line in PKG_REQUIREMENTS_FILE.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def pkg_tool(name: str = "ansible-playbook") -> Path:
    return PKG_VENV / "bin" / name


def ensure_pkg_venv() -> Path:
    """ansible-playbook of the `ansible` package venv; (re)built only when missing or stale."""
    reqs = pkg_requirements()
    wanted = "\n".join(reqs) + "\n"
    playbook = pkg_tool()
    if playbook.exists() and PKG_MARKER.exists() and PKG_MARKER.read_text() == wanted:
        return playbook
    print(f"bench: building {PKG_VENV} with {' '.join(reqs)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PKG_VENV)], check=True, timeout=300)
    subprocess.run([str(PKG_VENV / "bin" / "python"), "-m", "pip", "install", "-q", *reqs],
                   check=True, timeout=1800)
    PKG_MARKER.write_text(wanted)
    return playbook


def update_doc_block(name: str, text: str, heading: str | None = None, doc: Path = DOC) -> None:
    """Replace the `<!-- NAME:start -->` ... `<!-- NAME:end -->` block of doc with text.

    Without the block: with a heading, append a new section (other engineers own the rest of the
    file, so only ever append); without one, refuse, since the prose around the block is missing.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text}\n{end}"
    body = doc.read_text() if doc.exists() else "# Performance\n"
    if start in body and end in body:
        head, rest = body.split(start, 1)
        body = head + block + rest.split(end, 1)[1]
    elif heading:
        body = body.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
    else:
        raise SystemExit(f"bench: {doc} has no {start} ... {end} block to update")
    doc.write_text(body)


def add_lab_options(ap, state_dir: str, doc_what: str = "the tables") -> None:
    """The options every bench takes: where its lab lives, whether to keep it, whether to write the doc."""
    ap.add_argument("--state-dir", default=state_dir)
    ap.add_argument("--keep-lab", action="store_true", help="leave a lab this bench started running")
    ap.add_argument("--update-doc", action="store_true", help=f"write {doc_what} into docs/performance.md")


def dispatch(inner, args, argv: list, script: str, hosts: int, pkg_venv: bool = False) -> int:
    """inner(args) inside the lab (the re-run), else bring a lab up and re-run script there.

    pkg_venv: build the `ansible` package venv first, outside, so that a failed build costs no lab.
    """
    if os.environ.get("MAILOPS_BENCH_INNER"):
        return inner(args)
    if pkg_venv:
        ensure_pkg_venv()
    return run_in_lab(script, argv, args.state_dir, hosts, args.keep_lab)


def write_private(path: Path, text: str) -> None:
    """A file that holds secrets: created 0600 before a byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
