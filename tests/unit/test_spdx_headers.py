# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/tools/spdx_headers.py adds header lines only, in each file's comment style (no lab needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("spdx_headers", REPO / "tests" / "tools" / "spdx_headers.py")
spdx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(spdx)

MODULE = ("#!/usr/bin/python\n# -*- coding: utf-8 -*-\n# Copyright: mailops.smtp contributors\n"
          "# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)\n\nimport os\n")


def header(text: str, path: str) -> str:
    return spdx.with_header(text, spdx.comment_style(path, text.split("\n", 1)[0]))


def test_the_lines_go_after_the_existing_licence_line():
    out = header(MODULE, "plugins/modules/x.py")
    lines = out.splitlines()
    assert lines[4:6] == ["# " + spdx.COPYRIGHT, "# " + spdx.LICENSE]
    assert out.replace("# %s\n# %s\n" % (spdx.COPYRIGHT, spdx.LICENSE), "") == MODULE
    assert not spdx.missing(out)


def test_each_comment_style_and_yaml_start():
    assert header("---\n- hosts: all\n", "playbooks/x.yml").startswith("---\n# SPDX-")
    assert header("package main\n", "tests/x.go").startswith("// SPDX-")
    assert header("[Unit]\n", "roles/r/templates/x.service.j2").startswith("{# SPDX-")
    assert header("#!/bin/sh\necho\n", "x.sh").startswith("#!/bin/sh\n# SPDX-")


def test_prose_data_and_fragments_are_left_to_reuse_toml():
    for path in ("README.md", "docs/report.schema.json", "changelogs/fragments/x.yml", "requirements.txt"):
        assert spdx.comment_style(path, "x") is None, path
