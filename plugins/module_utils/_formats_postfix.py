# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Postfix main.cf parameters and the SASL password lookup table (postmap input).

Internal use only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    FormatError, LineFormat, check_value, refuse_edge_space)
from ansible_collections.mailops.smtp.plugins.module_utils._mask import fingerprint

_MAIN_KEY = re.compile(r"^([A-Za-z0-9_]+)\s*=")


class MainCfFormat(LineFormat):
    """main.cf: `name = value`; indented lines continue; '$' expands, '$$' is a literal '$'."""

    name = "Postfix main.cf"
    comment = "#"

    def key_of(self, line):
        m = _MAIN_KEY.match(line)
        return m.group(1) if m else None

    def continues(self, prev, line):
        return line[:1] in (" ", "\t") and bool(line.strip())

    def render(self, key, value, what):
        if not re.match(r"^[A-Za-z0-9_]+\Z", key):
            raise FormatError("%r is not a Postfix parameter name" % (key,))
        value = check_value(value, what, self.name)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        value = str(value)
        refuse_edge_space(value, what, "Postfix")
        return "%s = %s" % (key, value.replace("$", "$$"))


class SaslMapFormat(LineFormat):
    """A postmap source: `key whitespace value`, '#' only as a whole-line comment.

    The value is `username:password`; Postfix cuts it at the first ':' and strips
    whitespace around the value, so a username with ':' and a password with
    trailing whitespace cannot be carried.
    """

    name = "Postfix lookup table"
    comment = "#"

    def key_of(self, line):
        s = line.strip()
        if not s or s.startswith("#") or line[:1] in (" ", "\t"):
            return None
        return s.split(None, 1)[0]

    def continues(self, prev, line):
        return line[:1] in (" ", "\t") and bool(line.strip())

    def render(self, key, value, what):
        if not key or re.search(r"\s", key) or key.startswith("#"):
            raise FormatError("lookup key %r cannot be written" % (key,))
        check_value(value, what, self.name)
        return "%s %s" % (key, value)

    def mask(self, key, fp):
        return "%s %s" % (key, fp)

    def foreign_secret(self, entry):
        """Every entry of a SASL map holds a password, whoever wrote it."""
        return self.key_of(entry.text) is not None or LineFormat.foreign_secret(self, entry)

    def mask_foreign(self, entry, fp_key):
        key = self.key_of(entry.text)
        if key is None:
            return LineFormat.mask_foreign(self, entry, fp_key)
        return self.mask(key, fingerprint(fp_key, entry.text.rstrip("\r\n"))) + "\n"


def sasl_value(username, password):
    """Join username and password the way smtp_sasl_password_maps expects, or refuse."""
    check_value(username, "the username", SaslMapFormat.name)
    check_value(password, "the password", SaslMapFormat.name)
    if not username or ":" in username or username != username.strip():
        raise FormatError(
            "the username is empty, contains ':' or has surrounding whitespace, which the "
            "Postfix SASL map cannot carry; no file was changed")
    if password != password.rstrip():
        raise FormatError(
            "the password ends with whitespace, which postmap strips; no file was changed. "
            "Rotate to a password without trailing spaces.")
    return "%s:%s" % (username, password)
