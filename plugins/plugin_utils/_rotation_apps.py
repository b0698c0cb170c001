# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a rotation covers on one host: its applications, and its relay when the relay uses the rotated credential.

Internal use only. Controller side: the smtp_rotate role calls these through the filters of
plugins/filter/rotate_apps.py (rotate_apps, rotate_relay, rotate_inspected). Nothing here reads or returns a secret:
names, modes, Vault paths and versions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._relay_paths import RelayPathError, own_relay_upstream

# The relay's upstream modes that hold a credential (docs/relay.md); the connector mode logs in with none.
RELAY_UPSTREAMS_WITH_CREDENTIAL = ("xoauth2", "basic")

# How the rotation checks each kind of application after its batch (roles/smtp_rotate/tasks/check.yml):
# a message through Postfix or msmtp, a login (probe) for the others, nothing for an app that holds no credential.
_CHECKED_BY_SENDING = ("postfix", "msmtp")


class RotationAppsError(Exception):
    """A host variable the rotation reads cannot be used; the message says which and what to set."""


def _options(app):
    options = app.get("options") if isinstance(app, dict) else None
    return options if isinstance(options, dict) else {}


def _app_entry(app, profile):
    """One application of smtp_configure_apps as the rotation sees it: {name, kind, check, path, account}."""
    options = _options(app)
    kind = app.get("preset") or app.get("format") or "?"
    mode = options.get("mode") or ""
    # A Postfix in connector mode logs in with no credential; an app in via_relay mode sends through a relay
    # that logs in for it (the relay is rotated, not the app).
    connector = kind == "postfix" and (mode or ("connector" if profile == "m365_connector" else "relay")) == "connector"
    holds_none = connector or mode == "via_relay"
    return {
        "name": app.get("name") or "%s %s" % (kind, app.get("path") or "(default path)"),
        "kind": kind,
        "check": "none" if holds_none else (kind if kind in _CHECKED_BY_SENDING else "probe"),
        "path": app.get("path"),
        "account": options.get("account") or "mailops",
    }


def _source(vault):
    """<mount>/<path> of Vault options, as the drift marker writes it; None without a path."""
    if not isinstance(vault, dict) or not vault.get("path"):
        return None
    parts = [str(vault.get("mount") or "secret"), str(vault["path"])]
    return "/".join(p for part in parts for p in part.split("/") if p)


def rotate_relay(upstream, relay_vault=None, credential=None, inline_credential=None, apps=None,
                 shared_upstream=None, listen=None):
    """The host's relay as an application of this rotation, or None when the rotation does not reach it.

    A host runs a relay by the rule validate uses (_relay_paths.own_relay_upstream): its smtp_relay_upstream
    (upstream) is set, or it has a via_relay app on loopback (apps) or smtp_relay_listen addresses (listen) and
    mailops_smtp_relay_upstream (shared_upstream) names the upstream. It is a relay of the rotated credential
    when that upstream logs in (xoauth2 or basic) and the relay reads its credential from Vault
    (smtp_relay_vault, else mailops_smtp_vault: relay_vault) at the same <mount>/<path> as the rotated one
    (credential). A relay given its credential inline (smtp_relay_credential) does not read Vault: a rotation
    cannot reach it.
    """
    try:
        upstream = own_relay_upstream(apps, shared_upstream, listen, str(upstream or "").strip() or None)
    except RelayPathError as e:
        raise RotationAppsError(str(e))
    if upstream not in RELAY_UPSTREAMS_WITH_CREDENTIAL or inline_credential:
        return None
    source = _source(relay_vault)
    if source is None or source != "/".join(p for p in str(credential or "").split("/") if p):
        return None
    # Checked by a message through the relay's Postfix, as a Postfix app: it proves the relay logs in upstream.
    return {"name": "relay (%s)" % upstream, "kind": "relay", "upstream": upstream, "check": "postfix",
            "path": None, "account": None}


def rotate_apps(apps, profile="m365", relay=None):
    """The applications a rotation covers on a host: smtp_configure_apps, then the relay if it uses the credential."""
    out = [_app_entry(app, profile) for app in apps or [] if isinstance(app, dict)]
    if relay:
        out.append(dict(relay))
    return out


def _held(result, name, check):
    """{name, check, credential, version, error} from the result of mailops.smtp.settings run in check mode.

    A result without `version` means the file could not be read: its versions are unknown, and why is kept.
    """
    result = result if isinstance(result, dict) else {}
    if "version" not in result:
        return {"name": name, "check": check, "credential": "unknown", "version": "unknown",
                "error": result.get("msg") or "could not be read"}
    deployed = result.get("deployed") or {}
    return {"name": name, "check": check, "credential": deployed.get("credential") or "none",
            "version": str(deployed.get("version") or "none"), "error": None}


def rotate_inspected(results, apps, relay_result=None):
    """What each application of a host holds, from the inspection's results: [{name, check, credential, version, error}].

    results are the loop results of smtp_configure's inspect step (each with its smtp_configure__app), apps are
    rotate_apps' entries, relay_result the result of smtp_relay's inspect step (None when the host has no relay
    of this credential).
    """
    apps = [a for a in apps or [] if isinstance(a, dict)]
    checks = dict((a.get("name"), a.get("check")) for a in apps)
    out = []
    for r in results or []:
        name = ((r or {}).get("smtp_configure__app") or {}).get("name")
        out.append(_held(r, name, checks.get(name) or "probe"))
    relay = next((a for a in apps if a.get("kind") == "relay"), None)
    if relay is not None and relay_result is not None:
        out.append(_held(relay_result, relay["name"], relay["check"]))
    return out
