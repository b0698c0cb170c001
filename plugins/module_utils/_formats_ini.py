# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""INI files: Python configparser (interpolation off) and go-ini (Grafana).

Internal use only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    FormatError, LineFormat, check_value, has_line_break, refuse_edge_space)

_KEY = re.compile(r"^([A-Za-z0-9_.\-]+)\s*[=:]")
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+\Z")


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class IniFormat(LineFormat):
    """configparser with interpolation off: values are taken as is, edges stripped."""

    name = "ini"
    comment = "#"

    def key_of(self, line):
        m = _KEY.match(line)
        return m.group(1) if m else None

    def continues(self, prev, line):
        # configparser folds indented lines into the previous value.
        return bool(line[:1] in (" ", "\t") and line.strip() and _KEY.match(prev))

    def render(self, key, value, what):
        if not _NAME.match(key):
            raise FormatError("key %r is not a valid INI key name" % (key,))
        value = _text(check_value(value, what, self.name))
        refuse_edge_space(value, what, "an INI parser")
        return "%s = %s" % (key, value)

    def block_bounds(self, entries, block):
        if not block:
            # Keys before the first section header.
            for i, e in enumerate(entries):
                if _SECTION.match(e.text):
                    return 0, i
            return 0, len(entries)
        start = None
        for i, e in enumerate(entries):
            m = _SECTION.match(e.text)
            if m and start is None and m.group(1).strip() == block:
                start = i + 1
            elif m and start is not None:
                return start, i
        return None if start is None else (start, len(entries))

    def new_block(self, block):
        if not block:
            return [], []
        if "]" in block or "\x00" in block or has_line_break(block):
            raise FormatError("section name %r cannot be written" % (block,))
        return ["[%s]" % block], []

    def marker_index(self, entries):
        return 0


class GoIniFormat(IniFormat):
    """go-ini as Grafana loads it: '#' and ';' anywhere start an inline comment
    unless the value is in triple quotes; Grafana itself expands ${VAR},
    $__env{...} and $__file{...} in values and has no escape for them."""

    name = "grafana ini"

    def render(self, key, value, what):
        if not _NAME.match(key):
            raise FormatError("key %r is not a valid INI key name" % (key,))
        value = _text(check_value(value, what, self.name))
        if "${" in value or "$__" in value:
            raise FormatError(
                "%s contains '${' or '$__', which Grafana expands as a variable and "
                "offers no escape for; no file was changed. Choose a value without them." % what)
        plain = (value == value.strip() and value != "" and not re.search(r"[#;\"'`\\]", value))
        if plain:
            return "%s = %s" % (key, value)
        return '%s = """%s"""' % (key, value)
