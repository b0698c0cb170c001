# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the YAML writer's decision for line breaks (issue 15, items 1 and 6): a value with a line break
or another control character is double-quoted, so both YAML 1.1 (PyYAML, where NEL, LS and PS break lines) and
YAML 1.2 (ruamel.yaml) read it back exactly,"""

from __future__ import annotations

import pytest
import yaml
from ruamel.yaml import YAML

from ansible_collections.mailops.smtp.plugins.plugin_utils import _yaml_merge

BREAKS = {"CR": "\r", "LF": "\n", "VT": "\x0b", "FF": "\x0c", "FS": "\x1c", "GS": "\x1d", "RS": "\x1e",
          "NEL": "\x85", "LS": "\u2028", "PS": "\u2029"}
OLD = "# top\nmail:\n  port: 25\n"


def merge(text, value):
    return _yaml_merge.merge(text, [("mail.password", value, True)], None, "k", "/app.yml")


@pytest.mark.parametrize("brk", sorted(BREAKS))
def test_every_break_is_double_quoted_and_reads_back_exactly(brk):
    value = "a%sb: c # d" % BREAKS[brk]
    m = merge(OLD, value)
    assert not any(ch in m["content"].replace("\n", "") for ch in BREAKS.values())
    assert '  password: "a\\' in m["content"]
    assert yaml.safe_load(m["content"])["mail"]["password"] == value
    assert YAML(typ="rt").load(m["content"])["mail"]["password"] == value
    again = merge(m["content"], value)
    assert not again["changed"] and not again["secret_changed"]
