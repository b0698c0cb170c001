# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Add the SPDX lines to every source file git knows that lacks them (idempotent).

    python3 tests/tools/spdx_headers.py          add them
    python3 tests/tools/spdx_headers.py --check  list the files that lack them, exit 1 if any

Only header lines are added, nothing else changes, so it can be re-run after any merge.
Prose, data, pin lists and changelog fragments are covered by REUSE.toml instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Split, so that reuse does not read these constants as this file's own tags.
COPYRIGHT = "SPDX-" + "FileCopyrightText: mailops.smtp contributors"
LICENSE = "SPDX-" + "License-Identifier: GPL-3.0-or-later"
# The header line the files already have; the SPDX lines go right after it.
OLD_LICENSE_LINE = "# GNU General Public License v3.0+"
HASH = {".py", ".sh", ".yml", ".yaml", ".ini", ".cfg", ".toml"}
SLASHES = {".go", ".java"}
JINJA = {".j2"}
HASH_NAMES = {"Makefile", ".gitignore", ".ansible-lint"}
SKIP = ("changelogs/", "LICENSES/")
HEAD = 20  # lines searched for an existing SPDX line


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True).stdout.decode()
    return sorted(p for p in out.split("\0") if p and (REPO / p).is_file() and not (REPO / p).is_symlink())


def comment_style(path: str, first_line: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a comment line in this file, or None when it is not a source file."""
    name, suffix = Path(path).name, Path(path).suffix
    if path.startswith(SKIP) or path == "REUSE.toml":
        return None
    if suffix in HASH or name in HASH_NAMES or first_line.startswith("#!"):
        return "# ", ""
    if suffix in SLASHES:
        return "// ", ""
    if suffix in JINJA:
        return "{# ", " #}"
    if not suffix and first_line.startswith("# -*- coding"):  # a Python script without .py
        return "# ", ""
    return None


def insert_at(lines: list[str]) -> int:
    """Index after the existing licence line, or after a shebang, coding line or YAML start."""
    for i, line in enumerate(lines[:HEAD]):
        if line.startswith(OLD_LICENSE_LINE):
            return i + 1
    i = 0
    while i < len(lines) and (lines[i].startswith("#!") or lines[i].startswith("# -*- coding")
                              or (i == 0 and lines[i].rstrip() == "---")):
        i += 1
    return i


def missing(text: str) -> bool:
    return LICENSE not in "".join(text.splitlines(True)[:HEAD])


def with_header(text: str, style: tuple[str, str]) -> str:
    lines = text.splitlines(True)
    at = insert_at(lines)
    new = ["%s%s%s\n" % (style[0], line, style[1]) for line in (COPYRIGHT, LICENSE)]
    return "".join(lines[:at] + new + lines[at:])


def main(argv: list[str]) -> int:
    check = "--check" in argv
    lacking = []
    for path in tracked():
        text = (REPO / path).read_text(encoding="utf-8")
        style = comment_style(path, text.split("\n", 1)[0])
        if style is None or not missing(text):
            continue
        lacking.append(path)
        if not check:
            (REPO / path).write_text(with_header(text, style), encoding="utf-8")
    for path in lacking:
        print(("lacks SPDX lines: " if check else "added SPDX lines: ") + path)
    return 1 if check and lacking else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
