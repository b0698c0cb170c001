# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the suites that read rendered files with the applications' own parsers.

The parsers print each value as hex, so that any byte (a quote, a '$', a non-ASCII letter)
comes back exactly; `hexes` turns that output back into text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GO_INI = "/usr/share/gocode/src/gopkg.in/ini.v1"


def hexes(out: str) -> list[str]:
    """One decoded value per line of a reader's hex output."""
    return [bytes.fromhex(line).decode("utf-8") for line in out.strip().splitlines()]


def build_go_ini_reader(source: Path, workdir: Path) -> Path:
    """Build a Go program against Debian's gopkg.in/ini.v1 (Grafana's parser); return the binary.

    GOPATH mode with Debian's packaged source, so nothing is downloaded. The directory is made
    world-readable because lab hosts run the binary from there.
    """
    if not shutil.which("go") or not os.path.isdir(GO_INI):
        raise RuntimeError("golang-go and golang-gopkg-ini.v1-dev are needed (tests/apt-packages.txt)")
    shutil.copy(str(source), str(workdir / source.name))
    binary = workdir / source.stem
    cache = REPO / ".build" / "gocache"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=str(cache),
               GOFLAGS="", CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", str(binary), str(workdir / source.name)], check=True,
                   env=env, cwd=str(workdir), timeout=300, capture_output=True)
    os.chmod(workdir, 0o755)
    return binary
