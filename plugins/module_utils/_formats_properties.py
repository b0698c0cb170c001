# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Java .properties as java.util.Properties reads it (Spring Boot's application.properties).

Internal use only. Output is pure ASCII with \\uXXXX escapes, so the file reads
the same whether the loader assumes ISO-8859-1 or UTF-8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    LINE_BREAKS, FormatError, LineFormat, check_value)

_KEY = re.compile(r"^[ \t\f]*([^\s=:#!\\][^\s=:\\]*)[ \t\f]*[=:\s]")
_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]+\Z")
# Every line break is escaped (\n, \r, \f or \uXXXX), so a value never ends a line.
_ESC = {"\\": "\\\\", "\t": "\\t", "\f": "\\f", "\n": "\\n", "\r": "\\r"}


def _odd_backslashes(line):
    s = line.rstrip("\r\n")
    n = len(s) - len(s.rstrip("\\"))
    return n % 2 == 1


def escape_value(value):
    out = []
    for i, ch in enumerate(value):
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ch == " " and (i == 0 or value[:i].strip(" ") == "" or value[i:].strip(" ") == ""):
            # Properties drops leading blanks; trailing ones are escaped so no editor trims them.
            out.append("\\ ")
        elif 0x20 <= ord(ch) < 0x7f:
            out.append(ch)
        else:
            data = ch.encode("utf-16-be")
            for j in range(0, len(data), 2):
                out.append("\\u%04x" % ((data[j] << 8) | data[j + 1]))
    return "".join(out)


class PropertiesFormat(LineFormat):
    name = "properties"
    comment = "#"

    def key_of(self, line):
        m = _KEY.match(line)
        return m.group(1) if m else None

    def continues(self, prev, line):
        return _odd_backslashes(prev)

    def render(self, key, value, what):
        if not _NAME.match(key):
            raise FormatError("key %r is not a valid properties key" % (key,))
        value = check_value(value, what, "a .properties file", encoded=LINE_BREAKS)
        if isinstance(value, bool):
            value = "true" if value else "false"
        return "%s=%s" % (key, escape_value(str(value)))


class SpringPropertiesFormat(PropertiesFormat):
    name = "Spring properties"

    def render(self, key, value, what):
        if isinstance(value, str) and "${" in value:
            raise FormatError(
                "%s contains '${', which Spring resolves as a placeholder; no file was "
                "changed. Choose a value without it." % what)
        return PropertiesFormat.render(self, key, value, what)
