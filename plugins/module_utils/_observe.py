# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an application's files say now: the way it sends, read on the host (issue 21, section 1).

Internal use only; target side, standard library. The result never holds a value of the
files, only the marker's Vault metadata and words about the way (basic, xoauth2, via_relay,
connector), so it can go back to the controller and into a report.

The marker the collection writes answers first (the controller turns it into the observed way,
plugin_utils/_observed.py); the file's own settings are read too, because a marker says what the
file was written for, and a password left in the file is what decides that an app is not ready.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re

from ansible_collections.mailops.smtp.plugins.module_utils import _marker
from ansible_collections.mailops.smtp.plugins.module_utils._mask import assignment
from ansible_collections.mailops.smtp.plugins.module_utils._proof_read import RELAY_XOAUTH2_TRANSPORT

# Key names that hold a login password in the presets' and the usual applications' files
# (password, smtp_password, MAIL_PASSWORD, spring.mail.password, passwd, pass, pwd); msmtp's
# passwordeval runs a command (the token refresher's), it holds no password.
_PASSWORD_NAME = re.compile(r"(?:^|[._\-])(?:pass|passwd|password|pwd)$|password$", re.I)
_EMPTY_VALUES = ("", '""', "''", "nil", "null", "none", "~")
# Microsoft 365's inbound connector endpoint: a relayhost there is connector mode.
_CONNECTOR_HOST = re.compile(r"\.mail\.protection\.outlook\.com", re.I)
_MSMTP_AUTH = re.compile(r"^\s*auth\s+(\S+)", re.I)
_MSMTP_HOST = re.compile(r"^\s*host\s+\S+", re.I)
_POSTFIX_LINE = re.compile(r"^\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$")
_HOST_NAME = re.compile(r"(?:^|[._\-])(?:host|server|address)$", re.I)
_XOAUTH2 = re.compile(r"xoauth2|oauthbearer|microsoft_graph_mailer_enabled", re.I)


class Unreadable(Exception):
    """A file of the application exists but cannot be read (permissions, not a regular file)."""


def read_text(path):
    """The file's text, None when it does not exist; Unreadable with the reason otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError) as e:
        if e.errno == errno.ENOENT:
            return None
        raise Unreadable("cannot read %s: %s" % (path, e.strerror or e))
    return data.decode("utf-8", "replace")


def _value(raw):
    v = raw.strip().rstrip(",;").strip()
    return v.strip("'\"") if v not in _EMPTY_VALUES else ""


def holds_password(text):
    """Whether a line of text assigns a non-empty value to a password key (comments aside)."""
    for line in (text or "").splitlines():
        s = line.strip()
        if not s or s.startswith(("#", ";", "//")):
            continue
        found = assignment(line)
        if found and _PASSWORD_NAME.search(found[1]) and _value(found[2]).lower() not in _EMPTY_VALUES:
            return True
    return False


def _lines(text):
    return [l for l in (text or "").splitlines() if l.strip() and not l.strip().startswith("#")]


def msmtp_method(text, password):
    """msmtp: `auth xoauth2` is XOAUTH2, a password is basic, a host with `auth off` (or no auth) a relay."""
    if password:
        return "basic"
    auths = [m.group(1).lower() for m in (_MSMTP_AUTH.match(l) for l in _lines(text)) if m]
    if any(a in ("xoauth2", "oauthbearer") for a in auths):
        return "xoauth2"
    if any(_MSMTP_HOST.match(l) for l in _lines(text)):
        return "via_relay" if all(a == "off" for a in auths) else "unknown"
    return "unknown"


def postfix_settings(main_cf):
    out = {}
    for line in _lines(main_cf):
        m = _POSTFIX_LINE.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def sasl_map_path(settings, directory):
    """The file of smtp_sasl_password_maps (type:path), or None when SASL is off or the map is not a file."""
    if settings.get("smtp_sasl_auth_enable", "no").lower() not in ("yes", "true", "1"):
        return None
    maps = settings.get("smtp_sasl_password_maps", "")
    first = re.split(r"[\s,]+", maps.strip())[0] if maps.strip() else ""
    path = first.split(":", 1)[1] if ":" in first else first
    return path if path.startswith("/") else (os.path.join(directory, path) if path else None)


def relay_took_over(settings):
    """Whether the smtp_relay role's xoauth2 transport sends this Postfix's mail (it logs in with XOAUTH2)."""
    return settings.get("default_transport", "").split(":", 1)[0].strip() == RELAY_XOAUTH2_TRANSPORT


def postfix_method(settings, map_holds_password):
    """Postfix: a SASL map with an entry is basic; a relayhost at the tenant's MX host (port 25) is the
    connector; another relayhost with no login is a relay of ours. With none of these it delivers by itself,
    not through Microsoft 365 yet: none, so the inventory's verdict stands (as for a missing file)."""
    if map_holds_password:
        return "basic"
    if relay_took_over(settings):
        return "xoauth2"
    relayhost = settings.get("relayhost", "")
    if _CONNECTOR_HOST.search(relayhost):
        return "connector"
    return "via_relay" if relayhost.strip() else "none"


def generic_method(text, password):
    """Any other format: a password key is basic, an OAuth setting XOAUTH2, a mail host with no login a relay."""
    if password:
        return "basic"
    lines = _lines(text)
    if any(_XOAUTH2.search(l) for l in lines):
        return "xoauth2"
    for line in lines:
        found = assignment(line)
        if found and _HOST_NAME.search(found[1]) and _value(found[2]):
            return "via_relay"
    return "unknown"


def _map_holds_password(text):
    return any(len(l.split(None, 1)) == 2 for l in _lines(text))


def observe(preset, fmt, path):
    """{path, exists, readable, error, marker, settings: {method, holds_password}} of one application's files.

    preset/fmt: as mailops.smtp.settings takes them; path: the main file (Postfix: its directory).
    """
    out = {"path": path, "exists": False, "readable": True, "error": None, "marker": None,
           "settings": {"method": "none", "holds_password": False}}
    try:
        if preset == "postfix":
            _observe_postfix(out, path)
        else:
            _observe_file(out, preset, fmt, path)
    except Unreadable as e:
        out.update(readable=False, error=str(e))
        out["settings"] = {"method": "unknown", "holds_password": None}
    return out


def _observe_postfix(out, directory):
    main_cf = os.path.join(directory, "main.cf")
    text = read_text(main_cf)
    out["path"] = main_cf
    if text is None:
        return
    out["exists"] = True
    settings = postfix_settings(text)
    # The postfix preset's marker says what the preset wrote; once the smtp_relay role took this Postfix
    # over (its xoauth2 transport), the preset's way (basic, say) is no longer what the file does.
    out["marker"] = None if relay_took_over(settings) else _marker.parse(text)
    map_path = sasl_map_path(settings, directory)
    map_text = read_text(map_path) if map_path else None
    password = bool(map_text) and _map_holds_password(map_text)
    out["settings"] = {"method": postfix_method(settings, password), "holds_password": password}


def _observe_file(out, preset, fmt, path):
    text = read_text(path)
    if text is None:
        return
    out["exists"] = True
    if fmt == "json":
        out["marker"] = _marker.parse_sidecar(read_text(path + _marker.SIDECAR_SUFFIX))
    else:
        out["marker"] = _marker.parse(text)
    password = holds_password(text)
    method = msmtp_method(text, password) if preset == "msmtp" else generic_method(text, password)
    out["settings"] = {"method": method, "holds_password": password}
