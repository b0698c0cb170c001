# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decisions of a rotation (mailops.smtp.rotate), kept out of the role's Jinja.

Internal use only. Controller side: the smtp_rotate role calls these through the
filters of plugins/filter/rotate.py. Nothing here returns a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

LATEST = "latest"

# What a run that was given nothing to roll out tells the operator to do instead.
NOTHING_TO_ROLL_OUT = (
    "No new credential was given and no re-roll was asked for, so nothing was read, stored or written. "
    "To rotate, give the new secret: -e smtp_rotate_new_credential_file=/path (a 0600 file), the hidden prompt, "
    "or the AWX survey secret field smtp_rotate_new_credential (a blank answer is not a re-roll). "
    "To roll out Vault's latest version again, set smtp_rotate_version=latest (or type latest at the prompt); "
    "to roll back, smtp_rotate_version=<version number>. To only see the drift: -e smtp_rotate_mode=report or --check."
)

# Keys of the rotation report that change on every run whatever the fleet holds.
_VOLATILE_KEY = re.compile(r"^(generated_at|elapsed|.*duration.*|.*_seconds)$")


def _version(value):
    """(version, problem): None, 'latest' or an int >= 1, from what smtp_rotate_version holds."""
    if value is None or isinstance(value, bool):
        return None, None if value is None else "smtp_rotate_version must be latest or a version number."
    text = str(value).strip()
    if not text:
        return None, None
    if text.lower() == LATEST:
        return LATEST, None
    if text.isdigit() and int(text) >= 1:
        return int(text), None
    return None, "smtp_rotate_version must be latest or a version number (1 or more), not %r." % text


def rotate_request(mode, new_credential="", new_credential_file="", version=None):
    """What a run was asked to do; a run never falls back to re-rolling the current version silently.

    Returns {mode, new_from ('file', 'prompt' or None), version (None, 'latest' or int), problems}.
    mode is the resolved one (the role's smtp_rotate__mode: --check already means report). Report mode
    needs no secret and pins nothing. A new credential typed as the word
    `latest` (at the prompt or in a survey) is the explicit re-roll, not a secret.
    """
    mode = mode or "rotate"
    out = {"mode": mode, "new_from": None, "version": None, "problems": []}
    if mode == "report":
        return out
    problems = out["problems"]
    prompt = new_credential or ""
    if prompt.strip().lower() == LATEST:
        prompt, version_given = "", LATEST
    else:
        version_given = version
    pinned, problem = _version(version_given)
    if problem:
        problems.append(problem)
    if prompt and new_credential_file:
        problems.append("Give the new credential once: smtp_rotate_new_credential (prompt or survey) or "
                        "smtp_rotate_new_credential_file, not both.")
    if (prompt or new_credential_file) and pinned is not None:
        problems.append("smtp_rotate_version rolls out a version that is already in Vault; it cannot go with a "
                        "new credential. Drop one of them.")
    out["new_from"] = "file" if new_credential_file else ("prompt" if prompt else None)
    out["version"] = pinned
    if out["new_from"] is None and pinned is None and not problem:
        problems.append(NOTHING_TO_ROLL_OUT)
    return out


def _stable(value):
    if isinstance(value, dict):
        return dict((k, _stable(v)) for k, v in value.items() if not _VOLATILE_KEY.match(str(k)))
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def rotate_report_differs(new, previous):
    """True when the new report says something the previous one did not (timestamps and durations aside).

    previous is the last run's rotation.json, as text or parsed; empty, None or unreadable JSON
    means there is none.
    """
    if isinstance(previous, (str, bytes)):
        try:
            previous = json.loads(previous) if previous.strip() else None
        except ValueError:
            previous = None
    if not isinstance(previous, dict) or not previous:
        return True
    return _stable(new) != _stable(previous)


def _source(text):
    """A credential source as the marker writes it (<mount>/<path>), with stray slashes dropped."""
    return "/".join(part for part in str(text or "").split("/") if part)


def rotate_holds(app, credential, version):
    """True when an application's drift marker names this credential (mount/path) AND this version.

    app is an inspected application ({credential, version}); a marker of another Vault path with the
    same version number is not the same credential.
    """
    if not isinstance(app, dict):
        return False
    return (_source(app.get("credential")) == _source(credential)
            and str(app.get("version")) == str(version))


def rotate_leftovers(found_per_host, hosts, credential, version):
    """The secret files of every host that no application uses any more, each flagged when it holds an old version.

    found_per_host runs parallel to hosts: for each host, the `files` that mailops.smtp.leftover_secrets found
    (smtp_configure's inspect step), or None for a host not inspected. Only files whose drift marker records a
    credential count (the SASL map and its compiled map, the refresher's credential); `old` is true unless the
    marker names this credential (mount/path) and this version. Nothing here holds a secret: paths and markers.
    """
    out = []
    for host, files in zip(hosts or [], found_per_host or []):
        for found in files or []:
            if not isinstance(found, dict) or not found.get("secret") or not found.get("credential"):
                continue
            out.append({"host": host, "path": found.get("path"), "credential": _source(found["credential"]),
                        "version": str(found.get("version")), "old": not rotate_holds(found, credential, version)})
    return out
