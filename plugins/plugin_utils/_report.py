# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's data: records per host and port, the summary, findings and readiness.

Internal use only. Input is what mailops.smtp.probe returned on each host (or
{unreachable: true, msg}); output is the plain dict that report.json holds and
every renderer (_report_html, _report_junit, _report_md) reads. The JSON schema
is docs/report.schema.json; keep the two in step.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

SCHEMA_VERSION = 1
SUBMISSION_PORT = "587"
STAGE_ORDER = ("dns", "connect", "tls", "banner", "ehlo", "starttls", "ehlo_tls", "auth", "send")
STATUS_ORDER = ("fail", "unreachable", "warn", "info", "pass")
HIDDEN = "(hidden)"

# Keys whose values are secrets whatever they hold; the probe never returns them,
# but a registered result may carry `invocation` or a caller may pass more than asked.
_SECRET_KEYS = frozenset(("password", "access_token", "client_secret", "token", "refresh_token", "secret",
                          "passwd", "app_password", "id_token"))
_SECRET_SUFFIXES = ("_password", "_token", "_secret")
_DROP_KEYS = frozenset(("invocation", "_ansible_no_log", "module_args"))
# Credentials that could slip into a reply or detail text.
_SECRET_TEXT = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"), r"\1" + HIDDEN),
    (re.compile(r"(?i)(auth\s+(?:xoauth2|plain|login)\s+)[A-Za-z0-9+/=]{8,}"), r"\1" + HIDDEN),
    (re.compile(r"(?i)(auth=)[^\x01\s]+"), r"\1" + HIDDEN),
    (re.compile(r"(?i)\b((?:password|passwd|access_token|client_secret|token|secret)\s*[=:]\s*)[^\s,;]+"),
     r"\1" + HIDDEN),
)

# Presets of mailops.smtp.settings that can authenticate with OAuth 2.0 (readiness point 3).
# Mirrors PRESETS[...]["oauth"] of module_utils/_presets.py; a unit test keeps them equal.
#   msmtp: `auth xoauth2` with passwordeval (msmtp 1.8.23 on Debian 12).
#   gitlab: its Microsoft Graph mailer (Graph Mail.Send), not SMTP XOAUTH2.
#   postfix: no; sasl-xoauth2 is not packaged on Debian 12, but connector mode needs no mailbox auth.
#   grafana, nextcloud (server mail settings): user and password only (open requests
#   grafana/alerting#365, nextcloud/server#21595).
#   spring, laravel, django: their mail libraries can send a bearer token, but only from
#   application code that fetches and refreshes it; the preset writes settings files only.
OAUTH_PRESETS = {
    "msmtp": True, "gitlab": True, "postfix": False, "grafana": False, "nextcloud": False,
    "spring": False, "laravel": False, "django": False,
}

# Verdicts the report gives itself, beside the probe's diagnosis vocabulary.
REPORT_DIAGNOSES = {
    "host_unreachable": {
        "title": "The host could not be reached to run the check",
        "cause": "Ansible, which runs the check, could not connect to or log in on the host, so nothing was "
                 "checked from it.",
        "fix": "Check that the host is up and that Ansible can log in (`ansible <host> -m ansible.builtin.ping`), "
               "then run the validation again.",
        "reference": "https://docs.ansible.com/ansible/latest/inventory_guide/connection_details.html",
    },
    "probe_failed": {
        "title": "The check could not run on the host",
        "cause": "The probe module failed before it could test the mail path (for example a bad option, "
                 "a missing CA file, or no Python on the host).",
        "fix": "Read the message in this record, correct the input or the host, and run the validation again.",
        "reference": "https://docs.ansible.com/ansible/latest/reference_appendices/python_3_support.html",
    },
    "probe_missing": {
        "title": "No result for the host",
        "cause": "The play did not run the probe on this host (skipped, or the host left the play early).",
        "fix": "Run the validation again for this host; check the play's host pattern and conditions.",
        "reference": "https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_conditionals.html",
    },
}

READINESS_TEXT = {
    "host_unreachable": "the host could not be checked",
    "oauth_endpoint_unreachable": "the token endpoint (login.microsoftonline.com on 443) is not reachable over TLS",
    "oauth_endpoint_not_checked": "the token endpoint was not checked (probe with check_oauth_endpoint: true)",
    "submission_port_not_probed": "port 587 was not checked",
    "submission_port_failed": "port 587 does not pass EHLO after STARTTLS",
    "xoauth2_not_offered": "port 587 does not offer AUTH XOAUTH2 after STARTTLS",
    "app_without_oauth": "an application on the host cannot use OAuth 2.0",
}


READINESS_SHORT = {
    "host_unreachable": "host unreachable", "oauth_endpoint_unreachable": "no token endpoint",
    "oauth_endpoint_not_checked": "token endpoint not checked", "submission_port_not_probed": "587 not checked",
    "submission_port_failed": "587 fails", "xoauth2_not_offered": "no XOAUTH2 on 587",
    "app_without_oauth": "app without OAuth",
}


class ReportInputError(ValueError):
    """The input cannot be turned into a report; the message says what to pass instead."""


# -- scrubbing -------------------------------------------------------------

def _is_secret_key(key):
    k = str(key).lower()
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


def scrub_text(text):
    for pattern, repl in _SECRET_TEXT:
        text = pattern.sub(repl, text)
    return text


def scrub(obj, _depth=0):
    """A plain copy of obj (dict, list, str, numbers) with every secret hidden.

    Also turns Ansible's tagged or unsafe str/dict/list subclasses into plain types.
    """
    if _depth > 64:
        raise ReportInputError("the input is nested more than 64 levels deep; pass the probe's result as it is")
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            key = str(key)
            if key in _DROP_KEYS:
                continue
            out[key] = HIDDEN if _is_secret_key(key) and value not in (None, "") else scrub(value, _depth + 1)
        return out
    if isinstance(obj, (list, tuple)):
        return [scrub(v, _depth + 1) for v in obj]
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    return scrub_text(str(obj))


# -- records ---------------------------------------------------------------

def _report_diagnosis(code, detail=None):
    d = dict(REPORT_DIAGNOSES[code])
    d["code"] = code
    if detail:
        d["cause"] = "%s Message: %s" % (d["cause"], detail)
    return d


def _diag(value):
    if not isinstance(value, dict) or not value.get("code"):
        return None
    return {k: (None if value.get(k) is None else str(value.get(k)))
            for k in ("code", "title", "cause", "fix", "reference")}


def _int_or_none(v):
    try:
        return None if v is None or isinstance(v, bool) else int(v)
    except (TypeError, ValueError):
        return None


def _stages(raw):
    out = []
    for s in raw or []:
        if isinstance(s, dict) and s.get("name"):
            out.append({"name": str(s["name"]), "ok": bool(s.get("ok")), "ms": _int_or_none(s.get("ms")),
                        "detail": "" if s.get("detail") is None else str(s.get("detail"))})
    return out


def _tls(raw):
    if not isinstance(raw, dict):
        return None
    cert = raw.get("cert") if isinstance(raw.get("cert"), dict) else None
    if cert is not None:
        san = cert.get("san")
        cert = {
            "subject": cert.get("subject"),
            "san": [str(x) for x in san] if isinstance(san, list) else [],
            "issuer": cert.get("issuer"),
            "not_after": cert.get("not_after"),
            "days_left": _int_or_none(cert.get("days_left")),
            "chain_trusted": cert.get("chain_trusted") if isinstance(cert.get("chain_trusted"), bool) else None,
            "hostname_match": cert.get("hostname_match") if isinstance(cert.get("hostname_match"), bool) else None,
        }
        for k in ("subject", "issuer", "not_after"):
            if cert[k] is not None:
                cert[k] = str(cert[k])
    return {"version": None if raw.get("version") is None else str(raw["version"]),
            "cipher": None if raw.get("cipher") is None else str(raw["cipher"]), "cert": cert}


def _status(res, diag):
    if diag and diag["code"] == "port_not_offered":
        return "info"
    if res.get("ok"):
        return "warn" if diag else "pass"
    return "fail"


def port_record(host, port, res):
    """One host x port record from a probe's ports[port] value."""
    res = res if isinstance(res, dict) else {}
    diag = _diag(res.get("diagnosis"))
    stages = _stages(res.get("stages"))
    failed = [s["name"] for s in stages if not s["ok"]]
    tls = _tls(res.get("tls"))
    auth = res.get("auth") if isinstance(res.get("auth"), dict) else None
    if auth is not None:
        auth = {"mechanism": None if auth.get("mechanism") is None else str(auth["mechanism"]),
                "ok": bool(auth.get("ok")), "reply": None if auth.get("reply") is None else str(auth["reply"])}
    cert = (tls or {}).get("cert") or {}
    if not res.get("ok") and diag is None:
        diag = _diag({"code": "unknown", "title": "The check failed for a reason the probe did not name",
                      "cause": "No diagnosis came with this failure.", "fix": "Read the stage details.",
                      "reference": None})
    return {
        "host": host,
        "port": _int_or_none(port),
        "status": _status(res, diag),
        "ok": bool(res.get("ok")),
        "expected": res.get("expected") if res.get("expected") in ("open", "not_offered") else None,
        "security": None if res.get("security") is None else str(res["security"]),
        "address": None if res.get("address") is None else str(res["address"]),
        "elapsed_ms": sum(s["ms"] or 0 for s in stages),
        "failed_stage": failed[-1] if failed else None,
        "stages": stages,
        "tls": tls,
        "cert_days_left": cert.get("days_left"),
        "extensions": [str(x) for x in res.get("extensions") or []],
        "auth_mechanisms": [str(x) for x in res.get("auth_mechanisms") or []],
        "auth": auth,
        "diagnosis": diag,
        "ready": False,
    }


def _unreached_record(host, port, diag, msg):
    return {
        "host": host, "port": _int_or_none(port), "status": "unreachable" if diag["code"] == "host_unreachable"
        else "fail", "ok": False, "expected": None, "security": None, "address": None, "elapsed_ms": 0,
        "failed_stage": None, "stages": [], "tls": None, "cert_days_left": None, "extensions": [],
        "auth_mechanisms": [], "auth": None, "diagnosis": diag, "ready": False, "message": msg,
    }


def _no_probe_code(res):
    if not isinstance(res, dict):
        return "probe_missing", "no result was passed for this host"
    if res.get("unreachable"):
        return "host_unreachable", str(res.get("msg") or "unreachable")
    # The probe fails the task when the host's check fails, and still returns every port.
    if isinstance(res.get("ports"), dict) and res["ports"]:
        return None, None
    if res.get("failed"):
        return "probe_failed", str(res.get("msg") or "the module failed")
    if res.get("skipped") or not isinstance(res.get("ports"), dict) or not res.get("ports"):
        return "probe_missing", str(res.get("msg") or res.get("skip_reason") or "the result holds no ports")
    return None, None


# -- readiness -------------------------------------------------------------

def _app_entry(app):
    """(name, oauth capable, note) for one configured app (a preset name or a settings task's args)."""
    if isinstance(app, dict):
        name = app.get("preset") or app.get("name") or app.get("format") or "?"
        opts = app.get("options") if isinstance(app.get("options"), dict) else {}
        if name == "postfix" and opts.get("mode") == "connector":
            return "postfix (connector)", True, "relays through the connector; no mailbox authentication"
        if not app.get("preset") and app.get("format"):
            return str(name), False, "generic %s file: whether the application can use OAuth is unknown" % name
    else:
        name = str(app)
    name = str(name)
    if name not in OAUTH_PRESETS:
        return name, False, "not a known preset: whether it can use OAuth is unknown"
    return name, OAUTH_PRESETS[name], None


def readiness(res, reached, sub_record, apps, connector):
    """The XOAUTH2 readiness verdict of one host: {ready, reasons, apps, connector}."""
    reasons = []

    def why(code, text=None):
        reasons.append({"code": code, "text": text or READINESS_TEXT[code]})

    if not reached:
        why("host_unreachable")
    else:
        oauth = res.get("oauth_endpoint")
        if not isinstance(oauth, dict):
            why("oauth_endpoint_not_checked")
        elif not oauth.get("ok"):
            code = (oauth.get("diagnosis") or {}).get("code") if isinstance(oauth.get("diagnosis"), dict) else None
            why("oauth_endpoint_unreachable", READINESS_TEXT["oauth_endpoint_unreachable"]
                + (" (%s)" % code if code else ""))
        if sub_record is None:
            why("submission_port_not_probed")
        else:
            ehlo_tls = [s for s in sub_record["stages"] if s["name"] == "ehlo_tls"]
            if not (ehlo_tls and ehlo_tls[-1]["ok"]):
                code = (sub_record["diagnosis"] or {}).get("code")
                why("submission_port_failed", READINESS_TEXT["submission_port_failed"]
                    + (" (%s)" % code if code else ""))
            elif "XOAUTH2" not in [m.upper() for m in sub_record["auth_mechanisms"]]:
                offered = ", ".join(sub_record["auth_mechanisms"]) or "none"
                why("xoauth2_not_offered", "%s (offered: %s)" % (READINESS_TEXT["xoauth2_not_offered"], offered))
    app_rows = None
    if apps is not None:
        app_rows = []
        for app in apps:
            name, capable, note = _app_entry(app)
            app_rows.append({"name": name, "oauth": capable, "note": note})
            if not capable:
                why("app_without_oauth", "%s cannot use OAuth 2.0%s" % (name, ": " + note if note else ""))
    conn = None
    if connector is not None:
        conn = {"reachable": bool(connector.get("ok")) if isinstance(connector, dict) else False,
                "summary": str(connector.get("summary") or connector.get("msg") or "")
                if isinstance(connector, dict) else "no result"}
    return {"ready": not reasons, "reasons": reasons, "apps": app_rows, "connector": conn}


# -- the report ------------------------------------------------------------

def _severity(status):
    return {"fail": "fail", "unreachable": "fail", "warn": "warning", "info": "info"}.get(status)


def _findings(records, port_order):
    groups = {}
    for r in records:
        d = r["diagnosis"]
        if not d:
            continue
        g = groups.setdefault(d["code"], {"code": d["code"], "severity": _severity(r["status"]),
                                          "title": d["title"], "cause": d["cause"], "fix": d["fix"],
                                          "reference": d["reference"], "ports": [], "hosts": []})
        if _severity(r["status"]) == "fail":
            g["severity"] = "fail"
        if r["port"] is not None and r["port"] not in g["ports"]:
            g["ports"].append(r["port"])
        if r["host"] not in g["hosts"]:
            g["hosts"].append(r["host"])
    rank = {"fail": 0, "warning": 1, "info": 2}
    out = sorted(groups.values(), key=lambda g: (rank[g["severity"]], -len(g["hosts"]), g["code"]))
    for g in out:
        g["ports"].sort(key=port_order)
        g["host_count"] = len(g["hosts"])
        ports = ", ".join(str(p) for p in g["ports"])
        plural = "" if g["host_count"] == 1 else "s"
        g["text"] = "%d host%s: %s%s; fix: %s" % (g["host_count"], plural, (ports + " ") if ports else "",
                                                  g["title"], g["fix"])
    return out


def _readiness_findings(hosts):
    groups = {}
    for h in hosts:
        for reason in h["readiness"]["reasons"]:
            g = groups.setdefault(reason["code"], {"code": reason["code"], "text": READINESS_TEXT[reason["code"]],
                                                   "hosts": []})
            if h["host"] not in g["hosts"]:
                g["hosts"].append(h["host"])
    out = sorted(groups.values(), key=lambda g: (-len(g["hosts"]), g["code"]))
    for g in out:
        g["host_count"] = len(g["hosts"])
    return out


def _natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def build_report(results, apps=None, connector=None, max_fail_percentage=0, title=None, generated=None):
    """The report dict (see docs/report.md) from host -> probe result."""
    if not isinstance(results, dict) or not results:
        raise ReportInputError("results must be a non-empty dict of inventory host name -> probe result "
                               "(or {unreachable: true, msg: ...})")
    if apps is not None and not isinstance(apps, dict):
        raise ReportInputError("apps must be a dict of host -> list of app presets")
    if connector is not None and not isinstance(connector, dict):
        raise ReportInputError("connector must be a dict of host -> probe result of the connector path")
    try:
        max_fail = float(max_fail_percentage)
    except (TypeError, ValueError):
        raise ReportInputError("max_fail_percentage must be a number from 0 to 100")
    if not 0 <= max_fail <= 100:
        raise ReportInputError("max_fail_percentage must be a number from 0 to 100, not %s" % max_fail_percentage)
    results = scrub(results)
    apps = scrub(apps) if apps is not None else {}
    connector = scrub(connector) if connector is not None else {}

    # The probe lists ports in the profile's order (587 before 465); keep it.
    fleet_ports = []
    for host in sorted(results, key=_natural):
        res = results[host]
        if isinstance(res, dict) and isinstance(res.get("ports"), dict):
            for p in res["ports"]:
                if str(p) not in fleet_ports:
                    fleet_ports.append(str(p))

    def port_order(p):
        return (fleet_ports.index(str(p)), "") if str(p) in fleet_ports else (len(fleet_ports), str(p))

    hosts, records = [], []
    for host in sorted(results, key=_natural):
        res = results[host]
        code, msg = _no_probe_code(res)
        host_apps = apps.get(host)
        if host_apps is not None and not isinstance(host_apps, list):
            host_apps = [host_apps]
        if code:
            diag = _report_diagnosis(code, msg)
            host_records = [_unreached_record(host, p, diag, msg) for p in (fleet_ports or [None])]
            ready = readiness({}, False, None, host_apps, connector.get(host) if host in connector else None)
            entry = {"host": host, "status": "unreachable" if code == "host_unreachable" else "failed",
                     "ok": False, "summary": "%s: %s" % (diag["title"], msg), "elapsed_ms": 0,
                     "oauth_endpoint": None, "readiness": ready}
        else:
            host_records = [port_record(host, p, res["ports"][p]) for p in sorted(res["ports"], key=port_order)]
            sub = [r for r in host_records if str(r["port"]) == SUBMISSION_PORT]
            ready = readiness(res, True, sub[0] if sub else None, host_apps,
                              connector.get(host) if host in connector else None)
            oauth = res.get("oauth_endpoint")
            if isinstance(oauth, dict):
                oauth = {"ok": bool(oauth.get("ok")), "ms": _int_or_none(oauth.get("ms")),
                         "diagnosis": _diag(oauth.get("diagnosis"))}
            else:
                oauth = None
            entry = {"host": host, "status": "ok" if res.get("ok") else "failed", "ok": bool(res.get("ok")),
                     "summary": str(res.get("summary") or ""), "elapsed_ms": _int_or_none(res.get("elapsed_ms")),
                     "oauth_endpoint": oauth, "readiness": ready}
        for r in host_records:
            r["ready"] = ready["ready"]
        entry["ports"] = [r["port"] for r in host_records if r["port"] is not None]
        hosts.append(entry)
        records.extend(host_records)

    n = len(hosts)
    failed = sum(1 for h in hosts if not h["ok"])
    unreachable = sum(1 for h in hosts if h["status"] == "unreachable")
    ready_n = sum(1 for h in hosts if h["readiness"]["ready"])
    fail_pct = round(100.0 * failed / n, 2)
    by_status = dict((s, sum(1 for r in records if r["status"] == s)) for s in STATUS_ORDER)
    days = [r["cert_days_left"] for r in records if r["cert_days_left"] is not None]
    passed = fail_pct <= max_fail
    summary = {
        "hosts": n, "hosts_ok": n - failed, "hosts_failed": failed, "hosts_unreachable": unreachable,
        "hosts_ready": ready_n, "hosts_not_ready": n - ready_n, "records": len(records),
        "records_by_status": by_status, "fail_percentage": fail_pct, "max_fail_percentage": max_fail,
        "passed": passed, "cert_min_days_left": min(days) if days else None,
        "headline": "%d of %d hosts ready; %d blocked" % (ready_n, n, n - ready_n),
        "verdict": "%d of %d hosts passed the connectivity check; %d failed%s; %s%% failed, %s%% allowed: %s" % (
            n - failed, n, failed, ", %d of them unreachable" % unreachable if unreachable else "",
            _pct(fail_pct), _pct(max_fail), "PASSED" if passed else "FAILED"),
    }
    now = generated or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema_version": SCHEMA_VERSION,
        "title": str(title or "SMTP submission readiness"),
        "generated": now,
        "summary": summary,
        "ports": [_int_or_none(p) for p in fleet_ports if _int_or_none(p) is not None],
        "findings": _findings(records, port_order),
        "readiness_findings": _readiness_findings(hosts),
        "hosts": hosts,
        "records": records,
    }


def _pct(v):
    return ("%.2f" % v).rstrip("0").rstrip(".")
