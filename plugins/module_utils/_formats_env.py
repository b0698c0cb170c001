# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""dotenv files: the generic flavour (python-dotenv) and Laravel's (vlucas/phpdotenv).

Internal use only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    NULL, FormatError, LineFormat, check_value)

_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


# Escapes that python-dotenv and phpdotenv both decode inside double quotes. Both
# would also decode \n, \r, \v and \f, but neither has an escape for FS, GS, RS,
# NEL, LS or PS, and other readers of .env files (Docker, systemd, a shell) do
# not share these escapes: every line break is refused, none is encoded.
_DOUBLE_QUOTED = {"\\": "\\\\", '"': '\\"'}
# A value both readers take literally without quotes: no whitespace, quote, '#' or '$'.
_BARE = re.compile(r"\A[^\s'\"#$]+\Z")


def double_quoted(value, extra=None):
    table = dict(_DOUBLE_QUOTED, **(extra or {}))
    return '"%s"' % "".join(table.get(ch, ch) for ch in value)


class EnvFormat(LineFormat):
    """Read the same by python-dotenv and vlucas/phpdotenv: double quotes with
    the escapes both decode. python-dotenv expands ${VAR} in every value, quoted
    or not, with no escape; its quoted-value pattern cannot end in an escaped
    backslash (it runs on to the next quote in the file), so a value ending in a
    backslash is written bare, which both read literally, or refused."""

    name = "env"
    comment = "#"

    def key_of(self, line):
        m = _KEY.match(line)
        return m.group(1) if m else None

    def _name(self, key):
        if not _NAME.match(key):
            raise FormatError("key %r is not a valid environment variable name" % (key,))

    def _checked(self, key, value, what):
        """(the value checked for .env, or None, and the whole line when it is a bool or an int)."""
        self._name(key)
        value = check_value(value, what, ".env")
        if isinstance(value, bool):
            return None, "%s=%s" % (key, "true" if value else "false")
        if isinstance(value, int):
            return None, "%s=%d" % (key, value)
        return value, None

    def render(self, key, value, what):
        value, line = self._checked(key, value, what)
        if line is not None:
            return line
        if "${" in value:
            raise FormatError(
                "%s contains '${', which dotenv readers expand as a variable even in quotes; "
                "no file was changed. Choose a value without it." % what)
        if value.endswith("\\"):
            if _BARE.match(value):
                return "%s=%s" % (key, value)
            raise FormatError(
                "%s ends with a backslash and also holds whitespace, a quote, '#' or '$'; "
                "python-dotenv cannot read such a value back in any quoting. No file was changed. "
                "Choose a value that does not end with a backslash." % what)
        return "%s=%s" % (key, double_quoted(value))


# Laravel's env() turns these words into booleans/null/'' and strips one pair
# of surrounding quotes, after phpdotenv has parsed the file.
_LARAVEL_WORDS = ("true", "(true)", "false", "(false)", "empty", "(empty)", "null", "(null)")
_LARAVEL_QUOTED = re.compile(r"\A(['\"])(.*)\1\Z", re.S)


class LaravelEnvFormat(EnvFormat):
    """vlucas/phpdotenv v5 alone: single quotes cannot hold a quote at all; double
    quotes take the escapes above and \\$, and interpolate ${VAR} otherwise."""

    name = "Laravel .env"

    def render(self, key, value, what):
        if value is NULL:
            self._name(key)
            return "%s=null" % key
        value, line = self._checked(key, value, what)
        if line is not None:
            return line
        if value.lower() in _LARAVEL_WORDS or _LARAVEL_QUOTED.match(value):
            raise FormatError(
                "%s is a word or a quoted string that Laravel's env() converts "
                "(true/false/null/empty or surrounding quotes); no file was changed. "
                "Choose another value." % what)
        return "%s=%s" % (key, double_quoted(value, {"$": "\\$"}))
