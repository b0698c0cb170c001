# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fingerprints that let a diff show *that* a secret changed, never what it is.

Internal use only. The key is random per task run, so a fingerprint seen in one
run's log cannot be used to test guesses against another run, and nothing that
could be brute-forced offline is ever stored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import hmac
import os
import re

PREFIX = "fingerprint:"
SHORT = 12


def new_key():
    return binascii.hexlify(os.urandom(32)).decode("ascii")


def fingerprint(key, value):
    """Short keyed HMAC-SHA256 of value, as 'fingerprint:<hex>'."""
    if not key:
        raise ValueError("a fingerprint key is required")
    if not isinstance(value, bytes):
        value = value.encode("utf-8")
    digest = hmac.new(key.encode("utf-8"), value, hashlib.sha256).hexdigest()
    return PREFIX + digest[:SHORT]


# Names that suggest a secret, in any format: password, passwd, passphrase, pwd,
# secret, key (APP_KEY, SECRET_KEY, api_key), token, salt, credential, private,
# dsn. Over-masking a harmless setting in a diff costs little; showing a secret
# costs everything.
_SECRET_NAME = re.compile(r"pass|pwd|secret|key|token|salt|credential|private|dsn|cookie|signature", re.I)
# A URL with a password in it (DATABASE_URL=postgres://user:pw@db/app), whatever its name.
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:[^@\s]+@")
# `name = value`, `name: value`, `name => value`, `name value`, `export NAME=`,
# `'name' => value`, `hash['name'] = value`, a comment before any of them.
_ASSIGNMENT = re.compile(
    r"""^(?P<head>[ \t]*(?:(?:\#|;|//)[ \t]*)?(?:export[ \t]+)?
          (?P<q>['"]?)(?P<name>[^\s'"=:\[\]]+)(?P=q)
          (?:\[[ \t]*(?P<q2>['"]?)(?P<sub>[^'"\]]+)(?P=q2)[ \t]*\])?
          (?:[ \t]*(?:=>|=|:)[ \t]*|[ \t]+))
        (?P<value>\S.*)$""", re.X | re.S)


def is_secret_name(name):
    return bool(name) and bool(_SECRET_NAME.search(str(name)))


def assignment(line):
    """(head, name, value) of a line that assigns a value to a name, else None."""
    m = _ASSIGNMENT.match(line.rstrip("\r\n"))
    if not m:
        return None
    return m.group("head"), m.group("sub") or m.group("name"), m.group("value")


def secret_line(line):
    """Whether a line of any config file assigns what could be a secret."""
    if _URL_PASSWORD.search(line):
        return True
    found = assignment(line)
    return bool(found) and is_secret_name(found[1])


def mask_line(line, key):
    """The line with its value replaced by a fingerprint of the whole line."""
    fp = fingerprint(key, line.rstrip("\r\n"))
    found = assignment(line)
    if found and not _URL_PASSWORD.search(found[0]):
        return "%s%s\n" % (found[0], fp)
    return "%s (a line that may hold a secret)\n" % fp


def mask_assignments(text):
    """A tool's message with the value of every secret-looking name=value cut out."""
    def repl(m):
        return m.group(0) if not is_secret_name(m.group(1)) else "%s=(masked)" % m.group(1)
    return _URL_PASSWORD.sub("(masked)@", re.sub(r"([A-Za-z0-9_.\-]+)=(\S.*)$", repl, text))


def mask_tree(data, key, under_secret=False):
    """Mask in place every scalar of a JSON/YAML tree kept under a secret-looking name."""
    items = list(data.items()) if isinstance(data, dict) else list(enumerate(data))
    for k, v in items:
        secret = under_secret or (isinstance(data, dict) and is_secret_name(k))
        if isinstance(v, (dict, list)):
            mask_tree(v, key, secret)
        elif v is not None and v != "" and (secret or (isinstance(v, str) and _URL_PASSWORD.search(v))):
            data[k] = fingerprint(key, repr(v))
    return data
