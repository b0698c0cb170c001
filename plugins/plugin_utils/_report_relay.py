# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's relay part: the hops to the relays, the relays' upstream checks, each app's path.

Internal use only. Input per host (the `relay` option of build_report), all optional:
  hops: the probe's `relays` result (one per relay the host's via_relay apps send to), each optionally
        with `relay_inventory_host` (the inventory host that runs that relay, when known);
  upstream: {mode: xoauth2|connector|basic, result: the probe result of the upstream check, or None}.
Output: report.json's hosts[].relay, and the path rows of hosts[].readiness.apps (docs/report.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.module_utils._presets_via_relay import is_loopback
from ansible_collections.mailops.smtp.plugins.plugin_utils import _observed, _relay_paths


def _diag(value):
    if not isinstance(value, dict) or not value.get("code"):
        return None
    return {k: (None if value.get(k) is None else str(value.get(k)))
            for k in ("code", "title", "cause", "fix", "reference")}


def _first_port_diagnosis(result):
    for port in (result.get("ports") or {}).values():
        if isinstance(port, dict) and not port.get("ok") and _diag(port.get("diagnosis")):
            return _diag(port["diagnosis"])
    return None


def _port(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def hop_record(raw):
    """One hop of hosts[].relay.hops from the probe's relays[] entry."""
    raw = raw if isinstance(raw, dict) else {}
    relay = raw.get("relay") if isinstance(raw.get("relay"), dict) else {}
    ok = bool(raw.get("ok"))
    return {"host": str(relay.get("host") or "?"), "port": _port(relay.get("port")),
            "security": None if relay.get("security") is None else str(relay["security"]),
            "relay_host": None if not raw.get("relay_inventory_host") else str(raw["relay_inventory_host"]),
            "ok": ok, "summary": str(raw.get("summary") or ""),
            "message": None if ok or raw.get("message") is None else str(raw["message"]),
            "diagnosis": None if ok else (_diag(raw.get("diagnosis")) or _first_port_diagnosis(raw))}


def upstream_record(raw):
    """hosts[].relay.upstream: {mode, checked, ok, summary, diagnosis}, or None when the host runs no relay
    (or its upstream is not known). ok is None when the check did not run (no relay credential, skipped)."""
    if not isinstance(raw, dict) or raw.get("mode") not in _relay_paths.RELAY_UPSTREAMS:
        return None
    res = raw.get("result")
    ran = isinstance(res, dict) and not res.get("skipped") and ("ok" in res or res.get("failed") or res.get("msg"))
    if not ran:
        return {"mode": raw["mode"], "checked": False, "ok": None, "diagnosis": None,
                "summary": str(raw.get("why_not") or "not checked")}
    ok = bool(res.get("ok"))
    diag = None if ok else (_diag(res.get("diagnosis")) or _first_port_diagnosis(res))
    return {"mode": raw["mode"], "checked": True, "ok": ok, "diagnosis": diag,
            "summary": str(res.get("summary") or res.get("msg") or "")}


def relay_record(raw):
    """hosts[].relay of one host, or None when the host neither sends through a relay nor runs one."""
    raw = raw if isinstance(raw, dict) else {}
    hops = [hop_record(h) for h in raw.get("hops") or []]
    upstream = upstream_record(raw.get("upstream"))
    if not hops and upstream is None:
        return None
    return {"hops": hops, "upstream": upstream}


def relay_passed(record):
    """False when a hop failed or the relay's upstream was checked and failed; a check not run is no failure."""
    if record is None:
        return True
    if any(not h["ok"] for h in record["hops"]):
        return False
    return not (record["upstream"] and record["upstream"]["ok"] is False)


def finding_records(host, record):
    """The relay's failures as records for the report's findings (host, port, status, diagnosis)."""
    out = []
    if record is None:
        return out
    for h in record["hops"]:
        if not h["ok"] and h["diagnosis"]:
            out.append({"host": host, "port": h["port"], "status": "fail", "diagnosis": h["diagnosis"]})
    up = record["upstream"]
    if up and up["ok"] is False and up["diagnosis"]:
        out.append({"host": host, "port": None, "status": "fail", "diagnosis": up["diagnosis"]})
    return out


def failure_text(record):
    """One line for the host's summary: what is wrong on the way to or behind its relays."""
    parts = [h["message"] or "relay %s:%s: %s" % (h["host"], h["port"], (h["diagnosis"] or {}).get("code"))
             for h in (record or {}).get("hops", []) if not h["ok"]]
    up = (record or {}).get("upstream")
    if up and up["ok"] is False:
        parts.append("the relay's %s upstream fails: %s" % (up["mode"], up["summary"]))
    return "; ".join(parts)


def upstream_ok_by_host(records):
    """host -> whether the relay it runs gets to Microsoft 365 (True, False, or None when not checked)."""
    return dict((host, (rec["upstream"] or {}).get("ok") if rec else None) for host, rec in records.items())


def _hop_for(hops, app):
    from ansible_collections.mailops.smtp.plugins.module_utils._presets_via_relay import relay_of
    relay = relay_of((app.get("options") or {}) if isinstance(app, dict) else {})
    for h in hops:
        if h["host"] == relay["host"] and h["port"] == relay["port"]:
            return h
    return None


def _relay_upstream_ok(host, hop, upstream_ok):
    """The upstream check of the relay behind a hop: this host's own for a loopback relay, else the
    inventory host that runs it, when known."""
    if hop is None:
        return None
    if is_loopback(hop["host"]):
        return upstream_ok.get(host)
    return upstream_ok.get(hop["relay_host"]) if hop["relay_host"] else None


def app_path_row(host, app, relay_upstream, cred_type, profile, direct_ok, connector_ok, record, upstream_ok,
                 observed=None):
    """({path, path_label, works_now, survives_retirement}, the relay's upstream check) of one application on one
    host; the second is True, False, or None (not a relay path, or not checked). observed: the app's observed way
    (_observed), which gives the path when the app's files exist; else the declared way does."""
    kind = (app.get("preset") or app.get("format")) if isinstance(app, dict) else str(app)
    code = (_observed.path_code(observed, kind)
            or _relay_paths.app_path(app, relay_upstream, cred_type, profile))
    hop_ok = upstream = None
    if code.startswith("relay_"):
        hop = _hop_for((record or {}).get("hops") or [], app)
        hop_ok = None if hop is None else hop["ok"]
        upstream = _relay_upstream_ok(host, hop, upstream_ok)
    return ({"path": code, "path_label": _relay_paths.path_label(code),
             "works_now": _relay_paths.path_works_now(code, direct_ok, connector_ok, hop_ok, upstream),
             "survives_retirement": _relay_paths.survives_retirement(code)}, upstream)


def observed_cell(observed):
    """The observed column: the way the files say, where it came from, and a password left in them."""
    if not observed:
        return "not read"
    way = observed["method"]
    if way == "via_relay" and observed.get("relay_upstream"):
        way = u"via_relay → %s" % observed["relay_upstream"]
    text = "%s (%s)" % (way, observed["source"])
    return text + ", password in file" if observed.get("holds_password") else text


def yes_no(value):
    return {True: "yes", False: "no"}.get(value, "not checked")


# -- rows for the renderers --------------------------------------------------

def path_rows(report):
    """One row per application of every host whose applications are known: for the path tables."""
    rows = []
    for h in report["hosts"]:
        for app in h["readiness"]["apps"] or []:
            if "path" not in app:
                continue
            rows.append({"host": h["host"], "app": app["name"], "path": app["path_label"],
                         "observed": observed_cell(app.get("observed")),
                         "works_now": yes_no(app["works_now"]), "survives": yes_no(app["survives_retirement"])
                         if app["survives_retirement"] is not None else "not known"})
    return rows


def check_rows(report):
    """One row per relay check (each hop, each upstream): {host, name, ok (True/False/None), text, diagnosis}."""
    rows = []
    for h in report["hosts"]:
        rec = h.get("relay")
        if not rec:
            continue
        for hop in rec["hops"]:
            rows.append({"host": h["host"], "name": "relay %s:%s" % (hop["host"], hop["port"]), "ok": hop["ok"],
                         "text": hop["message"] or hop["summary"], "diagnosis": hop["diagnosis"]})
        up = rec["upstream"]
        if up:
            rows.append({"host": h["host"], "name": "relay upstream %s" % up["mode"], "ok": up["ok"],
                         "text": up["summary"], "diagnosis": up["diagnosis"]})
    return rows
