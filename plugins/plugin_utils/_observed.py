# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The observed way of an application: what its files on the host say now (issue 21, section 1).

Internal use only. Input is one application's entry of what the settings modules read on the
host: an entry of mailops.smtp.host_settings' `apps` run with observe (or mailops.smtp.settings'
result with observe), which carries `observed`; or a check-mode settings result (the inspect of
smtp_configure), which carries only `deployed` (the marker). Output is report.json's
`hosts[].readiness.apps[].observed` (contract 1 of I21-CONTRACTS.md, docs/report.md):

    {method: basic|xoauth2|via_relay|connector|none|unknown,
     relay_upstream: xoauth2|basic|connector|None,
     source: marker|settings|unreadable|missing,
     holds_password: True|False|None}

The marker answers the method when it records one; a file without one (or with an older marker that
records only credential and version) is judged by its own settings. Whether the file holds a password
always comes from the file itself: that, not the marker, is what keeps an app from being ready.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.module_utils import _marker

METHODS = ("basic", "xoauth2", "via_relay", "connector", "none", "unknown")
SOURCES = ("marker", "settings", "unreadable", "missing")
# Ways that survive the retirement of basic auth by themselves (via_relay: as its relay's upstream does).
READY_METHODS = ("xoauth2", "connector")


def _observed(method, source, holds_password, relay_upstream=None):
    return {"method": method, "relay_upstream": relay_upstream if method == "via_relay" else None,
            "source": source, "holds_password": holds_password}


def unknown(source="unreadable"):
    """An app whose files could not be read: never ready."""
    return _observed("unknown", source, None)


def _from_deployed(deployed, relay_upstream):
    """A check-mode settings result (no observe): only its marker is known; without a method in it, nothing."""
    method, upstream = _marker.split_method((deployed or {}).get("auth") if isinstance(deployed, dict) else None)
    if method is None:
        return unknown("settings")
    # The password is not known from a marker alone; basic holds one by definition.
    return _observed(method, "marker", True if method == "basic" else None, upstream or relay_upstream)


def observed_app(inspect_result, app=None, relay_upstream=None):
    """The observed way (module docstring) of one application from its inspect result.

    app: the item of smtp_configure_apps (kept for the contract; its relay's declared upstream is
    relay_upstream, which stands in when the marker does not record one); inspect_result: see the module
    docstring. A result that is missing, failed or unreachable gives method unknown.
    """
    res = inspect_result if isinstance(inspect_result, dict) else {}
    obs = res.get("observed")
    if not isinstance(obs, dict):
        if res.get("failed") or res.get("unreachable") or res.get("skipped") or "deployed" not in res:
            return unknown()
        return _from_deployed(res.get("deployed"), relay_upstream)
    if not obs.get("readable", True):
        return unknown()
    if not obs.get("exists"):
        return _observed("none", "missing", False)
    settings = obs.get("settings") if isinstance(obs.get("settings"), dict) else {}
    password = bool(settings.get("holds_password"))
    method, upstream = _marker.split_method((obs.get("marker") or {}).get("auth")
                                            if isinstance(obs.get("marker"), dict) else None)
    if method is not None:
        return _observed(method, "marker", password, upstream or relay_upstream)
    found = settings.get("method") if settings.get("method") in METHODS else "unknown"
    return _observed(found, "settings", password, relay_upstream)


def observed_apps(result, apps, relay_upstream=None):
    """observed_app() for every app of a host, from the host's host_settings observe result (in apps' order).

    A host whose result is missing, failed or unreachable gets unknown for every app; a read that was skipped
    (not asked for: --tags, or a host without applications) gives None: nothing was observed.
    """
    if isinstance(result, dict) and result.get("skipped"):
        return None
    entries = (result or {}).get("apps") if isinstance(result, dict) else None
    entries = entries if isinstance(entries, list) else []
    out = []
    for i, app in enumerate(apps or []):
        out.append(observed_app(entries[i] if i < len(entries) else None, app, relay_upstream))
    return out


def blocks(observed):
    """The readiness reason code an observed way gives, or None when the files do not stand in the way."""
    if observed is None:
        return None
    if observed["method"] == "unknown":
        return "app_not_observed"
    if observed["holds_password"] or observed["method"] == "basic":
        return "app_holds_password"
    return None


def path_code(observed, app_kind, relay_upstream_ready=None):
    """The path code (_relay_paths.PATHS) that the observed way gives, or None to keep the declared path.

    None for a file that does not exist yet (the app is not configured: what the inventory says is all there is).
    """
    if observed is None or observed["method"] == "none":
        return None
    method = observed["method"]
    if method == "via_relay":
        up = observed["relay_upstream"]
        return "relay_%s" % up if up in ("xoauth2", "basic", "connector") else "relay_unknown"
    if method == "connector":
        return "direct_connector"
    if method == "xoauth2":
        # GitLab's OAuth way is its Microsoft Graph mailer, not SMTP XOAUTH2.
        return "direct_graph" if app_kind == "gitlab" else "direct_xoauth2"
    if method == "basic":
        return "direct_basic"
    return "direct_unknown"


def observe_items(apps, endpoint="m365"):
    """The apps option of mailops.smtp.host_settings (with observe) for a host's smtp_configure_apps.

    Named and resolved as the smtp_configure role names and resolves them (_configure.describe_app), so
    that the observe result lines up with the apps; only what says where the files are is passed.
    """
    from ansible_collections.mailops.smtp.plugins.plugin_utils._configure import describe_app
    out = []
    for app in apps or []:
        app = app if isinstance(app, dict) else {"preset": str(app)}
        described = describe_app(app, endpoint or "m365", "basic")
        item = {"name": described["name"]}
        for key in ("preset", "format", "path", "section", "follow"):
            if app.get(key) is not None:
                item[key] = app[key]
        out.append(item)
    return out
