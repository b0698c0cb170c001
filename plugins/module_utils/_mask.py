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
