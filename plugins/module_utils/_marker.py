# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift marker: which credential and version a settings file was written from, and for which way.

Internal use only. The marker never holds a fingerprint or any other function of
the secret, only Vault metadata and the way the file makes the application send
(issue 21: readiness is read from the hosts' files, not from the inventory).

Two generations are read alike:
  old: ``managed by mailops.smtp: credential <source> version <N>``
  new: ``managed by mailops.smtp: credential <source> version <N> auth <method>``
The rotation compares only credential and version, which both carry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

TAG = "managed by mailops.smtp:"
_RE = re.compile(r"managed by mailops\.smtp: credential (\S+) version (\S+)(?:[ \t]+auth[ \t]+(\S+))?")
SIDECAR_SUFFIX = ".mailops-smtp.json"
# The ways a file can make its application send; via_relay may carry the relay's upstream
# (via_relay+xoauth2) when the writer knows it.
METHODS = ("basic", "xoauth2", "via_relay", "connector", "none")
RELAY_UPSTREAMS = ("xoauth2", "basic", "connector")
_METHOD = re.compile(r"^(basic|xoauth2|connector|none|via_relay(?:\+(?:xoauth2|basic|connector))?)$")


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


def auth_method(credential, options=None, smtp=None, relay_upstream=None):
    """The way a file written with these arguments makes its application send (the one place that decides).

    options.mode via_relay: through a relay of ours, with no login (``via_relay+<upstream>`` when the upstream
    is known); connector: Postfix to the tenant's MX host, no mailbox login; otherwise the login the settings
    module writes: XOAUTH2 when smtp.mechanism says so or the credential is oauth2 (as build_context
    decides), a password otherwise; ``none`` when the file is written with no credential.
    """
    mode = (options or {}).get("mode") if isinstance(options, dict) else None
    if mode == "via_relay":
        return "via_relay+%s" % relay_upstream if relay_upstream in RELAY_UPSTREAMS else "via_relay"
    if mode == "connector":
        return "connector"
    if not credential:
        return "none"
    mechanism = (smtp or {}).get("mechanism") if isinstance(smtp, dict) else None
    if mechanism == "xoauth2" or (not mechanism and (credential.get("type") == "oauth2"
                                                     or (not credential.get("type") and credential.get("client_id")))):
        return "xoauth2"
    return "basic"


def split_method(method):
    """(method, relay upstream or None) of a marker's auth word; (None, None) for an old marker."""
    if not method or not _METHOD.match(method):
        return None, None
    if method.startswith("via_relay+"):
        return "via_relay", method.split("+", 1)[1]
    return method, None


def text(credential, method=None):
    """The marker's text; method (auth_method()) is left out only by callers that write none."""
    source, version = describe(credential)
    if method is not None and not _METHOD.match(method):
        raise ValueError("%r is not a way the marker can record; expected one of %s" % (method, ", ".join(METHODS)))
    out = "%s credential %s version %s" % (TAG, source, version)
    return out if method is None else "%s auth %s" % (out, method)


def _parsed(credential, version, method):
    out = {"credential": credential, "version": version}
    # Only a marker that records the way carries the key: an old marker's dict stays as it was.
    if method and _METHOD.match(method):
        out["auth"] = method
    return out


def parse(content):
    """Find the marker in file text; return {'credential', 'version'[, 'auth']} or None."""
    if not content:
        return None
    m = _RE.search(content)
    if not m:
        return None
    return _parsed(m.group(1), m.group(2), m.group(3))


def is_marker_line(line, comment_prefix):
    s = line.strip()
    return s.startswith(comment_prefix) and TAG in s


def sidecar_content(credential, method=None):
    source, version = describe(credential)
    data = {"managed_by": "mailops.smtp", "credential": source, "version": version}
    if method is not None:
        if not _METHOD.match(method):
            raise ValueError("%r is not a way the marker can record" % (method,))
        data["auth"] = method
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
    method = data.get("auth")
    return _parsed(str(data.get("credential")), str(data.get("version")), method if isinstance(method, str) else None)
