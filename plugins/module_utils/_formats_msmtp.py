# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""msmtprc: `command argument` lines grouped in `account NAME` blocks.

Internal use only. msmtp 1.8 strips one pair of surrounding double quotes and
takes everything between them literally (no escapes; proven against msmtp's own
AUTH LOGIN in the tests), so '#', '"', '\\' and spaces at either end survive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    FormatError, LineFormat, check_value, split_lines)

_CMD = re.compile(r"^\s*([a-z_]+)(\s|$)")
_ACCOUNT = re.compile(r"^\s*account\s+(\S+)\s*$")
_ANY_ACCOUNT = re.compile(r"^\s*account\s")
_NAME = re.compile(r"^[A-Za-z0-9_.@\-]+\Z")
# Arguments that msmtp takes as keywords, never quoted.
BARE = ("on", "off")


def quote(value):
    return '"%s"' % value


class MsmtpFormat(LineFormat):
    name = "msmtprc"
    comment = "#"

    def key_of(self, line):
        if _ANY_ACCOUNT.match(line):
            return None
        m = _CMD.match(line)
        return m.group(1) if m else None

    def render(self, key, value, what):
        if not re.match(r"^[a-z_]+\Z", key):
            raise FormatError("%r is not an msmtp command" % (key,))
        value = check_value(value, what, self.name)
        if isinstance(value, bool):
            return "%s %s" % (key, "on" if value else "off")
        if isinstance(value, int):
            return "%s %d" % (key, value)
        if value in BARE or re.match(r"^[a-z0-9]+$", value) and key in ("auth", "tls", "tls_starttls", "tls_trust_file"):
            return "%s %s" % (key, value)
        return "%s %s" % (key, quote(value))

    def foreign_secret(self, entry):
        """password and passwordeval anywhere, and user in an account that is not ours."""
        key = self.key_of(entry.text)
        if key in ("password", "passwordeval") or (key == "user" and not entry.own):
            return True
        return LineFormat.foreign_secret(self, entry)

    def block_bounds(self, entries, block):
        start = None
        for i, e in enumerate(entries):
            m = _ACCOUNT.match(e.text)
            if start is None and m and m.group(1) == block:
                start = i + 1
            elif start is not None and _ANY_ACCOUNT.match(e.text):
                return start, i
        return None if start is None else (start, len(entries))

    def new_block(self, block):
        if not _NAME.match(block or ""):
            raise FormatError("account name %r cannot be used; use letters, digits, '.', '_', '-', '@'" % (block,))
        return ["account %s" % block], []


_DEFAULT = re.compile(r"^\s*account\s+default\s*:")


def set_default(text, account):
    """Make `account default : <account>` the last line; returns new text."""
    lines = split_lines(text)
    want = "account default : %s\n" % account
    kept = [l for l in lines if not _DEFAULT.match(l)]
    if lines and lines[-1] == want and len(kept) == len(lines) - 1:
        return text
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    return "".join(kept) + want
