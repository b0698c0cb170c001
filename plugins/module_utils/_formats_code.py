# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings written as source code: PHP arrays (Nextcloud), Ruby (gitlab.rb), Python (Django).

Internal use only. Strings are single-quoted literals, where only the quote and
the backslash are special, so '$', '#{...}' and '{{ }}' stay literal. A value with
a line break or another control character is written with escapes instead
(double quotes in PHP and Ruby, with '$' and '#' escaped), so no value can end
a line of the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    LINE_BREAKS, FormatError, LineFormat, check_value, needs_escape)


def single_quoted(value):
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


def _escaped(value, specials, code_point):
    return "".join(specials.get(ch) or (code_point(ord(ch)) if needs_escape(ch) else ch) for ch in value)


def python_literal(value):
    """A single-quoted Python str literal; \\xXX and \\uXXXX are code points in a str."""
    return "'%s'" % _escaped(value, {"\\": "\\\\", "'": "\\'"},
                             lambda n: "\\x%02x" % n if n < 0x100 else "\\u%04x" % n)


def php_literal(value):
    """Single quotes (only \\ and \' special) unless a character needs an escape; then
    double quotes, where '$' is escaped so nothing is interpolated."""
    if not any(needs_escape(ch) for ch in value):
        return single_quoted(value)
    return '"%s"' % _escaped(value, {"\\": "\\\\", '"': '\\"', "$": "\\$"}, lambda n: "\\u{%x}" % n)


def ruby_literal(value):
    """Single quotes unless a character needs an escape; then double quotes, where
    '#' is escaped so no #{...}, #@ or #$ is interpolated."""
    if not any(needs_escape(ch) for ch in value):
        return single_quoted(value)
    return '"%s"' % _escaped(value, {"\\": "\\\\", '"': '\\"', "#": "\\#"}, lambda n: "\\u{%x}" % n)


def _literal(value, what, fmt_name, true, false, string):
    value = check_value(value, what, fmt_name, encoded=LINE_BREAKS)
    if isinstance(value, bool):
        return true if value else false
    if isinstance(value, int):
        return str(value)
    return string(value)


_PHP_KEY = re.compile(r"""^\s*(['"])([^'"]+)\1\s*=>""")
_PHP_OPEN = re.compile(r"^\s*\$CONFIG\s*=\s*(array\s*\(|\[)\s*$")
_PHP_CLOSE = re.compile(r"^\s*(\)|\])\s*;\s*$")


class PhpArrayFormat(LineFormat):
    """One "'key' => value," line per setting inside `$CONFIG = array ( ... );`."""

    name = "php"
    comment = "//"

    def key_of(self, line):
        m = _PHP_KEY.match(line)
        return m.group(2) if m else None

    def render(self, key, value, what):
        if not re.match(r"^[A-Za-z0-9_.\-]+\Z", key):
            raise FormatError("key %r is not a valid array key here" % (key,))
        return "  %s => %s," % (single_quoted(key), _literal(value, what, "PHP", "true", "false", php_literal))

    def block_bounds(self, entries, block):
        start = None
        for i, e in enumerate(entries):
            if start is None and _PHP_OPEN.match(e.text):
                start = i + 1
            elif start is not None and _PHP_CLOSE.match(e.text):
                return start, i
        return None

    def new_block(self, block):
        return ["$CONFIG = array ("], [");"]

    def marker_index(self, entries):
        if entries and entries[0].text.startswith("<?php"):
            return 1
        return 0

    def new_file(self):
        return "<?php\n"


_RB_KEY = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_]*)\[\s*(['"])([^'"]+)\2\s*\]\s*=[^=~]""")
_RB_NAME = re.compile(r"""^([A-Za-z_][A-Za-z0-9_]*)\['([A-Za-z0-9_]+)'\]\Z""")


class RubyFormat(LineFormat):
    """`hash['key'] = value` lines as in GitLab's gitlab.rb; keys are written `gitlab_rails['smtp_address']`."""

    name = "ruby"
    comment = "#"

    def key_of(self, line):
        m = _RB_KEY.match(line)
        return "%s['%s']" % (m.group(1), m.group(3)) if m else None

    def render(self, key, value, what):
        if not _RB_NAME.match(key):
            raise FormatError("key %r must look like gitlab_rails['smtp_address']" % (key,))
        return "%s = %s" % (key, _literal(value, what, "Ruby", "true", "false", ruby_literal))


_PY_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=[^=]")


class PythonFormat(LineFormat):
    """Module-level `NAME = literal` assignments (a Django settings module)."""

    name = "python"
    comment = "#"

    def key_of(self, line):
        m = _PY_KEY.match(line)
        return m.group(1) if m else None

    def render(self, key, value, what):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*\Z", key):
            raise FormatError("key %r is not a valid Python name" % (key,))
        return "%s = %s" % (key, _literal(value, what, "Python", "True", "False", python_literal))

    def marker_index(self, entries):
        i = 0
        while i < len(entries) and i < 2 and (entries[i].text.startswith("#!") or "coding" in entries[i].text[:40] and entries[i].text.startswith("#")):
            i += 1
        return i
