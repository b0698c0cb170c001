# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift marker: which credential and version a settings file was written from.

Internal use only. The marker never holds a fingerprint or any other function of
the secret, only Vault metadata.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

TAG = "managed by mailops.smtp:"
_RE = re.compile(r"managed by mailops\.smtp: credential (\S+) version (\S+)")
SIDECAR_SUFFIX = ".mailops-smtp.json"


def describe(credential):
    """Return (source, version) strings for a credential object (or None)."""
    if not credential:
        return "none", "none"
    vault = credential.get("vault") or {}
    if not vault.get("path"):
        return "inline", "none"
    mount = str(vault.get("mount") or "secret").strip("/")
    source = "%s/%s" % (mount, str(vault["path"]).strip("/"))
    if re.search(r"\s", source):
        raise ValueError("the Vault path of the credential contains whitespace; it cannot be recorded in the marker")
    version = vault.get("version")
    return source, ("none" if version in (None, "") else str(version))


def text(credential):
    source, version = describe(credential)
    return "%s credential %s version %s" % (TAG, source, version)


def parse(content):
    """Find the marker in file text; return {'credential', 'version'} or None."""
    if not content:
        return None
    m = _RE.search(content)
    if not m:
        return None
    return {"credential": m.group(1), "version": m.group(2)}


def is_marker_line(line, comment_prefix):
    s = line.strip()
    return s.startswith(comment_prefix) and TAG in s


def sidecar_content(credential):
    source, version = describe(credential)
    data = {"managed_by": "mailops.smtp", "credential": source, "version": version}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse_sidecar(content):
    if not content:
        return None
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or "credential" not in data:
        return None
    return {"credential": str(data.get("credential")), "version": str(data.get("version"))}
