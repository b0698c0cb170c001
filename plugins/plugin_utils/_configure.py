# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decisions of the smtp_configure role, behind its filters (plugins/filter/configure_apps.py).

Internal use only. Nothing here holds or returns a secret: the credential is read for its type only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DEFAULT_ACCOUNT = "mailops"
TOKEN_DIR = "/var/lib/mailops-smtp"
CONNECTOR_PROFILE = "m365_connector"
# The options of mailops.smtp.host_settings an item of smtp_configure_apps passes through as they are.
_PASSED = ("preset", "format", "path", "section", "owner", "group", "mode", "follow", "backup", "validate", "create")


def _given(value):
    """Jinja's default(x, true): None, '' and other empty values count as not given."""
    return value not in (None, "", [], {}) and value is not False


def endpoint_of(endpoint):
    """smtp_configure_endpoint as a dict {profile, host, ports}."""
    if isinstance(endpoint, str):
        return {"profile": endpoint}
    return dict(endpoint or {})


def profile_of(endpoint):
    return endpoint_of(endpoint).get("profile") or "m365"


def credential_type(credential):
    """'basic' or 'oauth2', as the credential says or, failing that, as its fields show."""
    cred = credential or {}
    return cred.get("type") or ("oauth2" if cred.get("client_id") else "basic")


def smtp_base(endpoint, ca_path=None, from_address=None, from_name=None):
    """The smtp option of mailops.smtp.settings shared by every app (the endpoint's first port is written)."""
    ep = endpoint_of(endpoint)
    out = {"profile": profile_of(endpoint)}
    if _given(ep.get("host")):
        out["host"] = ep["host"]
    ports = ep.get("ports") or []
    first = ports[0] if ports else None
    if first not in (None, ""):
        out["port"] = int(first["port"] if isinstance(first, dict) else first)
        if isinstance(first, dict) and "security" in first:
            out["security"] = first["security"]
    for key, value in (("ca_path", ca_path), ("from_address", from_address), ("from_name", from_name)):
        if _given(value):
            out[key] = value
    return out


def _connector_smtp(endpoint, ca_path, from_address):
    ep = endpoint_of(endpoint)
    out = {"profile": CONNECTOR_PROFILE}
    if profile_of(endpoint) == CONNECTOR_PROFILE and _given(ep.get("host")):
        out["host"] = ep["host"]
    if _given(ca_path):
        out["ca_path"] = ca_path
    if _given(from_address):
        out["from_address"] = from_address
    return out


def _connector_host(smtp, opts):
    given = smtp.get("host") or ""
    if given and "{tenant}" not in given:
        return given
    return (opts.get("tenant") or "").lower().replace(".", "-") + ".mail.protection.outlook.com"


def app_kind(app):
    return app.get("preset") or app.get("format") or "?"


def describe_app(app, endpoint, cred_type, ca_path=None, from_address=None, from_name=None, preset_reload=None):
    """One item of smtp_configure_apps with what the role's tasks need to know about it.

    name, kind, connector (Postfix relaying through the connector: no mailbox, no secret),
    via_relay (options.mode via_relay: the app sends through a relay with no login, no secret),
    connector_host, xoauth2 (msmtp with a token file), account, token_file, options,
    keys_map (the app's keys), smtp, service, service_state, reload and app (the item itself).
    """
    kind = app_kind(app)
    profile = profile_of(endpoint)
    opts = {"mode": "connector"} if kind == "postfix" and profile == CONNECTOR_PROFILE else {}
    opts.update(app.get("options") or {})
    connector = kind == "postfix" and (opts.get("mode") or "relay") == "connector"
    if connector:
        smtp = _connector_smtp(endpoint, ca_path, from_address)
    else:
        smtp = smtp_base(endpoint, ca_path, from_address, from_name)
    smtp.update(app.get("smtp") or {})
    mech = smtp.get("mechanism") or ("xoauth2" if cred_type == "oauth2" else "login")
    via_relay = opts.get("mode") == "via_relay"
    xoauth2 = kind == "msmtp" and mech == "xoauth2" and not via_relay
    account = opts.get("account") or DEFAULT_ACCOUNT
    token_file = opts.get("token_file") or "%s/%s.token" % (TOKEN_DIR, account)
    if xoauth2:
        opts["token_file"] = token_file
    return {
        "name": app.get("name") or "%s %s" % (kind, app.get("path") or "(default path)"),
        "kind": kind,
        "connector": connector,
        "via_relay": via_relay,
        "connector_host": _connector_host(smtp, opts) if connector else None,
        "xoauth2": xoauth2,
        "account": account,
        "token_file": token_file,
        "options": opts,
        "keys_map": app.get("keys"),
        "smtp": smtp,
        "service": app.get("service"),
        "service_state": app.get("service_state") or "restarted",
        "reload": app.get("reload_command") or (preset_reload or {}).get(kind),
        "app": app,
    }


def configure_apps(apps, endpoint, cred_type="basic", ca_path=None, from_address=None, from_name=None,
                   preset_reload=None):
    """Every item of smtp_configure_apps, described (describe_app). cred_type: basic or oauth2."""
    return [describe_app(app, endpoint, cred_type, ca_path, from_address, from_name, preset_reload)
            for app in apps or []]


def holds_credential(app):
    """Whether a described app logs in itself: a connector or an app sending through a relay does not."""
    return not (app["connector"] or app.get("via_relay"))


def settings_items(apps, refresher_config_dir=None):
    """The apps option of mailops.smtp.host_settings for described apps.

    An msmtp app on XOAUTH2 brings a second item: the refresher's credential file, which holds the
    client secret, so that it is checked and written with the rest of the host.
    """
    out = []
    for a in apps or []:
        app = a.get("app") or {}
        item = dict((k, app[k]) for k in _PASSED if app.get(k) is not None)
        item.update(name=a["name"], options=a["options"], smtp=a["smtp"], credential=holds_credential(a))
        if a.get("keys_map"):
            item["keys"] = a["keys_map"]
        out.append(item)
        if a.get("xoauth2") and refresher_config_dir:
            out.append(refresher_item(a, refresher_config_dir))
    return out


def refresher_config_file(account, refresher_config_dir):
    return "%s/%s.oauth.json" % (refresher_config_dir.rstrip("/"), account)


def refresher_item(app, refresher_config_dir):
    """The token refresher's credential file of an msmtp XOAUTH2 app, as an item of host_settings."""
    return {"name": "%s (token refresher credential)" % app["name"], "format": "json",
            "path": refresher_config_file(app["account"], refresher_config_dir),
            "keys": {"tenant_id": "tenant_id", "client_id": "client_id", "client_secret": "client_secret",
                     "username": "username"},
            "mode": "0600", "credential": True}


def packages_for(apps, preset_packages):
    """The packages the apps' presets need, each once, in order."""
    out = []
    for a in apps or []:
        for pkg in (preset_packages or {}).get(a.get("kind")) or []:
            if pkg not in out:
                out.append(pkg)
    return out


def refresher_apps(apps, plan):
    """The msmtp XOAUTH2 apps whose settings or refresher credential the plan found to change:
    the token refresher is (re)installed for these only."""
    changed = set(r.get("name") for r in (plan or {}).get("apps") or [] if r.get("changed"))
    return [a for a in apps or [] if a.get("xoauth2")
            and (a["name"] in changed or refresher_item(a, "/")["name"] in changed)]


def reloads(apps, written, pending=None):
    """The reloads a host owes after host_settings wrote: apps whose settings or secret changed
    (a new drift marker alone does not count), with a service or a reload command.

    pending: the reloads noted by an earlier run of the role in this play whose handlers have not
    run yet; they are kept (an app of the same name is noted once, as now).
    """
    changed = set(r.get("name") for r in (written or {}).get("apps") or [] if r.get("content_changed"))
    new = [{"name": a["name"], "service": a.get("service"), "service_state": a.get("service_state"),
            "command": a.get("reload")}
           for a in apps or [] if a["name"] in changed and (a.get("service") or a.get("reload"))]
    names = set(r["name"] for r in new)
    return [r for r in pending or [] if r.get("name") not in names] + new


def hosts_to_write(hosts, hostvars, plan_var):
    """The hosts, in play order, whose plan (registered as plan_var) found something to write."""
    out = []
    for h in hosts or []:
        plan = hostvars[h].get(plan_var) if h in hostvars else None
        if isinstance(plan, dict) and plan.get("changed") and not plan.get("skipped"):
            out.append(h)
    return out


def hosts_needing_credential(hosts, hostvars, flag_var="smtp_configure__needs_credential"):
    """The hosts, in play order, whose apps log in (flag_var, set per host, is true).

    The credential tasks run once for the play, and Ansible evaluates a run_once task's condition on the
    first host alone: conditioned on that host's own apps, a first host with nothing that logs in skipped
    the fetch (and the lock check) for every host. The condition asks this instead."""
    return [h for h in hosts or [] if h in hostvars and hostvars[h].get(flag_var)]


def canary_host(hosts, hostvars, plan_var):
    """The one host that proves the credential: the first, in play order, with something to write; or None."""
    found = hosts_to_write(hosts, hostvars, plan_var)
    return found[0] if found else None


def _first_diagnosis(probe):
    diags = [p.get("diagnosis") for p in (probe.get("ports") or {}).values() if isinstance(p, dict)]
    diags = [d for d in diags if d]
    diags = [d for d in diags if d.get("code") != "port_not_offered"] or diags
    return diags[0] if diags else None


def _server_replies(probe):
    """What the server actually answered to AUTH, on each port that got so far."""
    out = []
    for port, p in sorted((probe.get("ports") or {}).items()):
        auth = (p or {}).get("auth") if isinstance(p, dict) else None
        if isinstance(auth, dict) and auth.get("reply") and not auth.get("ok"):
            out.append("port %s answered AUTH %s with %r" % (port, auth.get("mechanism") or "", auth["reply"]))
    return out


def probe_failure(probe, what):
    """Why one probe failed, quoting the server's own reply; None when it passed or did not run.

    The diagnosis gives the title and the fix only: its cause quotes the catalogue's canned replies
    (Microsoft's `535 5.7.3`), which may not be what this server said.
    """
    if not isinstance(probe, dict) or probe.get("skipped") or probe.get("ok"):
        return None
    why = "%s: %s" % (what, probe.get("summary") or probe.get("msg") or "the probe did not run")
    replies = _server_replies(probe)
    if replies:
        why += ". The server said: " + "; ".join(replies)
    d = _first_diagnosis(probe)
    if d:
        why += ". %s. Fix: %s" % (d.get("title") or d.get("code"), d.get("fix") or "")
    return why


def preflight_failures(auth_probes=None, connector_probes=None):
    """The reasons a host's preflight failed (empty when it passed).

    auth_probes: one registered probe result or a list of them (the canary's, the host's own);
    connector_probes: the registered result of the connector probes' loop.
    """
    out = []
    if isinstance(auth_probes, dict):
        auth_probes = [auth_probes]
    for probe in auth_probes or []:
        reason = probe_failure(probe, "AUTH to the endpoint")
        if reason:
            out.append(reason)
    for p in (connector_probes or {}).get("results") or []:
        reason = probe_failure(p, "the connector")
        if reason:
            out.append(reason)
    return out
