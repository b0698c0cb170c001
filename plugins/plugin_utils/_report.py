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

from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import CATALOGUE, REPORT_CATALOGUE, diagnosis
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import PROFILES
from ansible_collections.mailops.smtp.plugins.plugin_utils import _observed, _report_relay

SCHEMA_VERSION = 1
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

# An app in via_relay mode (mailops.smtp.settings) sends through a relay of our own (the smtp_relay role)
# and logs in nowhere itself: it is as ready as the relay's upstream. These upstreams survive the
# retirement of basic auth; `basic` (a mailbox password) does not. Each host says which upstream its
# relay has in this host variable (docs/basic-auth-retirement.md), the one the smtp_relay role reads.
RELAY_UPSTREAMS_READY = ("xoauth2", "connector")
RELAY_UPSTREAM_VAR = "mailops_smtp_relay_upstream"

# Verdicts the report gives itself, beside the probe's diagnosis vocabulary (one catalogue for both).
REPORT_DIAGNOSES = REPORT_CATALOGUE

# Readiness reasons; {port} is the applications' port (the endpoint's first), {authority} the
# host of the profile's token authority.
READINESS_TEXT = {
    "host_unreachable": "the host could not be checked",
    "probe_failed": "the check could not run on the host",
    "oauth_endpoint_unreachable": "the token endpoint ({authority} on 443) is not reachable over TLS",
    "oauth_endpoint_not_checked": "the token endpoint ({authority}) was not checked (the probe ran without "
                                  "check_oauth_endpoint; in the role, smtp_validate_check_oauth_endpoint is false)",
    "submission_port_not_probed": "port {port}, the applications' port, was not checked",
    "submission_port_failed": "port {port} does not get through TLS and EHLO",
    "xoauth2_not_offered": "port {port} does not offer AUTH XOAUTH2 after TLS",
    "app_without_oauth": "an application on the host cannot use OAuth 2.0",
    "relay_without_oauth": "an application sends through a relay whose upstream is not xoauth2 or connector",
    "relay_upstream_failed": "an application sends through a relay whose upstream fails its check",
    "app_holds_password": "an application's file on the host still holds a password",
    "app_not_observed": "an application's files on the host could not be read",
}


READINESS_SHORT = {
    "host_unreachable": "host unreachable", "probe_failed": "check did not run",
    "oauth_endpoint_unreachable": "no token endpoint", "oauth_endpoint_not_checked": "token endpoint not checked",
    "submission_port_not_probed": "{port} not checked", "submission_port_failed": "{port} fails",
    "xoauth2_not_offered": "no XOAUTH2 on {port}", "app_without_oauth": "app without OAuth",
    "relay_without_oauth": "relay without OAuth", "relay_upstream_failed": "relay upstream fails",
    "app_holds_password": "password in a file", "app_not_observed": "files not read",
}

# The readiness of a host: ready, blocked (reasons say why), or not applicable (the endpoint
# has no OAuth token authority, so XOAUTH2 readiness means nothing for it).
READINESS_STATUS = ("ready", "blocked", "not_applicable")


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
    d = diagnosis(code) if code in CATALOGUE else dict(REPORT_DIAGNOSES[code], code=code)
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
    msg = str(res.get("msg") or "the module failed")
    # The probe names why it could not run (a file it cannot read) in a diagnosis of its own.
    code = (res.get("diagnosis") or {}).get("code") if isinstance(res.get("diagnosis"), dict) else None
    if code in CATALOGUE:
        return code, msg
    # A role registers the probe with failed_when: false, which clears `failed`; a result
    # with a message and no ports that was not skipped is still a module that failed.
    if res.get("failed") or (res.get("msg") and not res.get("skipped")):
        return "probe_failed", msg
    return "probe_missing", str(res.get("msg") or res.get("skip_reason") or "the result holds no ports")


# -- readiness -------------------------------------------------------------

def _relay_entry(name, upstream):
    """(name, ready, note, reason code) of an app in via_relay mode: as ready as its relay's upstream."""
    label = "%s (via relay)" % name
    if upstream in RELAY_UPSTREAMS_READY:
        return label, True, "sends through a relay whose upstream is %s" % upstream, None
    if not upstream:
        return label, False, ("sends through a relay whose upstream is not known: set %s (xoauth2 or connector) "
                              "for the host" % RELAY_UPSTREAM_VAR), "relay_without_oauth"
    return label, False, ("sends through a relay whose upstream is %s, which will not work once basic auth is "
                          "retired: make it xoauth2 or connector" % upstream), "relay_without_oauth"


def _app_entry(app, relay_upstream=None):
    """(name, oauth capable, note, reason code) for one configured app (a preset name or a settings task's args)."""
    if isinstance(app, dict):
        name = str(app.get("preset") or app.get("name") or app.get("format") or "?")
        opts = app.get("options") if isinstance(app.get("options"), dict) else {}
        if opts.get("mode") == "via_relay":
            return _relay_entry(name, relay_upstream)
        if name == "postfix" and opts.get("mode") == "connector":
            return "postfix (connector)", True, "relays through the connector; no mailbox authentication", None
        if not app.get("preset") and app.get("format"):
            return (name, False, "generic %s file: whether the application can use OAuth is unknown" % name,
                    "app_without_oauth")
    else:
        name = str(app)
    if name not in OAUTH_PRESETS:
        return name, False, "not a known preset: whether it can use OAuth is unknown", "app_without_oauth"
    return name, OAUTH_PRESETS[name], None, None if OAUTH_PRESETS[name] else "app_without_oauth"


def _base_name(app):
    if isinstance(app, dict):
        return str(app.get("preset") or app.get("name") or app.get("format") or "?")
    return str(app)


def _observed_entry(app, declared, observed, relay_upstream):
    """(name, ready, note, reason code) of an app from what its files say now (issue 21): it overrides the
    declared way, except for a file that does not exist yet (method none), where the inventory is all there is.
    A password left in the file, or files that could not be read, keep the app from being ready."""
    if observed is None or observed["method"] == "none":
        return declared
    name = _base_name(app)
    code = _observed.blocks(observed)
    where = "the marker" if observed["source"] == "marker" else "its settings"
    if code == "app_holds_password":
        return (name, False, "still holds a password in its file on the host (observed: %s, from %s): configure it "
                "for a way that needs none (xoauth2, via_relay or connector) and remove the password"
                % (observed["method"], where), code)
    if code == "app_not_observed":
        return (name, False, "has files on the host that could not be read, so the way it sends is unknown: run "
                "validate with smtp_validate_become true (the default), or make the files readable", code)
    if observed["method"] == "via_relay":
        return _relay_entry(name, observed["relay_upstream"] or relay_upstream)
    if observed["method"] in _observed.READY_METHODS:
        label = "postfix (connector)" if observed["method"] == "connector" and name == "postfix" else name
        return label, True, "observed on the host: %s (from %s)" % (observed["method"], where), None
    return (name, False, "its files say %s, which will not work once basic auth is retired" % observed["method"],
            "app_without_oauth")


def endpoint_of(res, fallback=None):
    """{apps_port, oauth_authority} of a probe result: its own `endpoint`, else the fallback.

    A result without `endpoint` (an older probe, or a hand-made one) is judged as the probe's
    default profile, m365, with its first port as the applications' port.
    """
    ep = res.get("endpoint") if isinstance(res, dict) else None
    if isinstance(ep, dict):
        return {"apps_port": _int_or_none(ep.get("apps_port")),
                "oauth_authority": str(ep["oauth_authority"]) if ep.get("oauth_authority") else None}
    if fallback is not None:
        return fallback
    ports = list(res["ports"]) if isinstance(res, dict) and isinstance(res.get("ports"), dict) else []
    return {"apps_port": _int_or_none(ports[0]) if ports else _int_or_none(PROFILES["m365"]["ports"][0]["port"]),
            "oauth_authority": PROFILES["m365"]["oauth_authority"]}


def _authority_host(url):
    return re.sub(r"^[a-z]+://", "", url or "").split("/")[0]


def reason_text(code, endpoint, short=False):
    table = READINESS_SHORT if short else READINESS_TEXT
    return table[code].format(port=endpoint["apps_port"], authority=_authority_host(endpoint["oauth_authority"]))


def _oauth_reasons(res, endpoint, why):
    oauth = res.get("oauth_endpoint")
    if not isinstance(oauth, dict):
        why("oauth_endpoint_not_checked")
    elif not oauth.get("ok"):
        code = (oauth.get("diagnosis") or {}).get("code") if isinstance(oauth.get("diagnosis"), dict) else None
        why("oauth_endpoint_unreachable", " (%s)" % code if code else "")


def _apps_port_reasons(apps_record, why):
    if apps_record is None:
        why("submission_port_not_probed")
        return
    ehlo_tls = [s for s in apps_record["stages"] if s["name"] == "ehlo_tls"]
    if not (ehlo_tls and ehlo_tls[-1]["ok"]):
        code = (apps_record["diagnosis"] or {}).get("code")
        why("submission_port_failed", " (%s)" % code if code else "")
    elif "XOAUTH2" not in [m.upper() for m in apps_record["auth_mechanisms"]]:
        why("xoauth2_not_offered", " (offered: %s)" % (", ".join(apps_record["auth_mechanisms"]) or "none"))


def readiness(res, reached, apps_record, apps, connector, endpoint=None, unreached_code="host_unreachable",
              relay_upstream=None, observed=None):
    """The XOAUTH2 readiness verdict of one host: {ready, status, reasons, apps, connector}.

    endpoint: {apps_port, oauth_authority}; without an authority the verdict is not_applicable.
    relay_upstream: the upstream of the relay the host's via_relay apps send through (RELAY_UPSTREAM_VAR).
    observed: the observed way of each app (_observed.observed_apps, in the order of apps), or None when the
    hosts' files were not read (each app row then has no `observed` and readiness follows the inventory).
    """
    endpoint = endpoint or endpoint_of(res)
    applicable = bool(endpoint["oauth_authority"])
    reasons = []

    def why(code, suffix=""):
        reasons.append({"code": code, "text": reason_text(code, endpoint) + suffix})

    if applicable and not reached:
        why(unreached_code)
    elif applicable:
        _oauth_reasons(res, endpoint, why)
        _apps_port_reasons(apps_record, why)
    app_rows = None
    if apps is not None:
        app_rows = []
        for i, app in enumerate(apps):
            obs = observed[i] if observed is not None and i < len(observed) else None
            name, capable, note, code = _observed_entry(app, _app_entry(app, relay_upstream), obs, relay_upstream)
            row = {"name": name, "oauth": capable, "note": note}
            if observed is not None:
                row["observed"] = obs
            app_rows.append(row)
            if applicable and not capable:
                text = ("%s %s" % (name, note) if code in ("relay_without_oauth", "app_holds_password",
                                                           "app_not_observed")
                        else "%s cannot use OAuth 2.0%s" % (name, ": " + note if note else ""))
                reasons.append({"code": code, "text": text})
    conn = None
    if connector is not None:
        conn = {"reachable": bool(connector.get("ok")) if isinstance(connector, dict) else False,
                "summary": str(connector.get("summary") or connector.get("msg") or "")
                if isinstance(connector, dict) else "no result"}
    status = "not_applicable" if not applicable else ("blocked" if reasons else "ready")
    return {"ready": status == "ready", "status": status, "reasons": reasons, "apps": app_rows, "connector": conn}


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


def login_cell(record):
    """The login column: a result only where a login was tried on this port, else "-"."""
    auth = record.get("auth")
    if not auth:
        return "-"
    if auth["ok"]:
        return "ok (%s)" % auth["mechanism"]
    return ((record.get("diagnosis") or {}).get("code") or "failed") + " (%s)" % auth["mechanism"]


def _readiness_findings(hosts, endpoints):
    groups = {}
    for h in hosts:
        for reason in h["readiness"]["reasons"]:
            g = groups.setdefault(reason["code"], {"code": reason["code"],
                                                   "text": reason_text(reason["code"], endpoints[h["host"]]),
                                                   "hosts": []})
            if h["host"] not in g["hosts"]:
                g["hosts"].append(h["host"])
    out = sorted(groups.values(), key=lambda g: (-len(g["hosts"]), g["code"]))
    for g in out:
        g["host_count"] = len(g["hosts"])
    return out


def credential_record(fetched):
    """report.json's `credential`: {ok, diagnosis} from the registered vault_credentials result, or None.

    None means no credential was asked for in this run (none configured, or --skip-tags credential).
    """
    if fetched is None or not isinstance(fetched, dict) or fetched.get("skipped"):
        return None
    if fetched.get("failed") or not fetched.get("credential"):
        return {"ok": False, "diagnosis": _report_diagnosis(
            "credential_unavailable", str(fetched.get("msg") or "the lookup returned no credential"))}
    return {"ok": True, "diagnosis": None}


def _cause(findings, credential):
    """The real cause of a failed run, in one line: the credential, else the top failing finding."""
    if credential is not None and not credential["ok"]:
        d = credential["diagnosis"]
        return "%s: %s" % (d["code"], d["cause"].split(" Message: ", 1)[-1])
    for f in findings:
        if f["severity"] == "fail":
            return "%s, %s" % (f["code"], f["text"])
    return None


def _natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _check_inputs(results, apps, connector, max_fail_percentage):
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
    return max_fail


def _fleet_endpoint(results):
    """The endpoint the fleet was probed against, for hosts without a result of their own."""
    for host in sorted(results, key=_natural):
        res = results[host]
        if isinstance(res, dict) and isinstance(res.get("endpoint"), dict):
            return endpoint_of(res)
    return None


def _direct_ok(apps_record):
    """Whether the applications' port works from the host now, with the login where one was tried there."""
    if apps_record is None:
        return None
    return bool(apps_record["ok"]) and not (apps_record["auth"] and not apps_record["auth"]["ok"])


def _add_paths(entry, host_apps, paths):
    """Each application row of the readiness gets its path, whether it works now and survives the retirement.

    paths: {host, relay_upstream, cred_type, profile, direct_ok, connector_ok, record, upstream_ok}."""
    rows = entry["readiness"]["apps"]
    if rows is None:
        return
    for app, row in zip(host_apps, rows):
        path, upstream_ok = _report_relay.app_path_row(
            paths["host"], app, paths["relay_upstream"], paths["cred_type"], paths.get("profile"), paths["direct_ok"],
            paths["connector_ok"], paths["record"], paths["upstream_ok"], row.get("observed"))
        row.update(path)
        if upstream_ok is False and row["oauth"]:
            _relay_upstream_failed(entry["readiness"], row)


def _relay_upstream_failed(ready, row):
    """An app via a relay is ready only when the relay's upstream also passes its check (issue 20 section 2)."""
    row["oauth"] = False
    row["note"] = "sends through a relay whose upstream (%s) fails its check: see the relay's findings" % (
        row["path"].split("_", 1)[1])
    if ready["status"] == "not_applicable":
        return
    ready["reasons"].append({"code": "relay_upstream_failed", "text": "%s %s" % (row["name"], row["note"])})
    ready["status"], ready["ready"] = "blocked", False


def _add_relay(entry, record):
    """The host's relay checks; a failed hop or upstream fails the host, as a failed port does."""
    entry["relay"] = record
    if not _report_relay.relay_passed(record):
        if entry["ok"]:
            entry["status"] = "failed"
        entry["ok"] = False
        entry["summary"] = "; ".join(x for x in (entry["summary"], _report_relay.failure_text(record)) if x)


def _host_entry(host, res, fleet_ports, port_order, host_apps, conn, fleet_endpoint, relay_upstream=None,
                paths=None, observed=None):
    """(host entry, its records, its endpoint) for one host's probe result.

    observed: the observed way of each of host_apps (_observed.observed_apps), or None when not read."""
    paths = dict(paths or {}, host=host, relay_upstream=relay_upstream,
                 connector_ok=bool(conn.get("ok")) if isinstance(conn, dict) else None)
    code, msg = _no_probe_code(res)
    if code:
        endpoint = fleet_endpoint or endpoint_of({"ports": dict((p, None) for p in fleet_ports)})
        diag = _report_diagnosis(code, msg)
        host_records = [_unreached_record(host, p, diag, msg) for p in (fleet_ports or [None])]
        ready = readiness({}, False, None, host_apps, conn, endpoint,
                          unreached_code="host_unreachable" if code == "host_unreachable" else "probe_failed",
                          relay_upstream=relay_upstream, observed=observed)
        entry = {"host": host, "status": "unreachable" if code == "host_unreachable" else "failed",
                 "ok": False, "summary": "%s: %s" % (diag["title"], msg), "elapsed_ms": 0,
                 "oauth_endpoint": None, "readiness": ready, "endpoint": endpoint}
        _add_relay(entry, paths.get("record"))
        _add_paths(entry, host_apps, dict(paths, direct_ok=None, connector_ok=None))
        return entry, host_records, endpoint
    endpoint = endpoint_of(res, None if isinstance(res.get("endpoint"), dict) else fleet_endpoint)
    host_records = [port_record(host, p, res["ports"][p]) for p in sorted(res["ports"], key=port_order)]
    apps_record = [r for r in host_records if r["port"] == endpoint["apps_port"]]
    ready = readiness(res, True, apps_record[0] if apps_record else None, host_apps, conn, endpoint,
                      relay_upstream=relay_upstream, observed=observed)
    oauth = res.get("oauth_endpoint")
    if isinstance(oauth, dict):
        oauth = {"ok": bool(oauth.get("ok")), "ms": _int_or_none(oauth.get("ms")),
                 "diagnosis": _diag(oauth.get("diagnosis"))}
    else:
        oauth = None
    entry = {"host": host, "status": "ok" if res.get("ok") else "failed", "ok": bool(res.get("ok")),
             "summary": str(res.get("summary") or ""), "elapsed_ms": _int_or_none(res.get("elapsed_ms")),
             "oauth_endpoint": oauth, "readiness": ready, "endpoint": endpoint}
    _add_relay(entry, paths.get("record"))
    profile = res["endpoint"].get("profile") if isinstance(res.get("endpoint"), dict) else None
    _add_paths(entry, host_apps, dict(paths, profile=profile or paths.get("profile"),
                                      direct_ok=_direct_ok(apps_record[0] if apps_record else None)))
    return entry, host_records, endpoint


def _summary(hosts, records, max_fail, credential, findings):
    n = len(hosts)
    failed = sum(1 for h in hosts if not h["ok"])
    unreachable = sum(1 for h in hosts if h["status"] == "unreachable")
    counts = dict((st, sum(1 for h in hosts if h["readiness"]["status"] == st)) for st in READINESS_STATUS)
    fail_pct = round(100.0 * failed / n, 2)
    by_status = dict((st, sum(1 for r in records if r["status"] == st)) for st in STATUS_ORDER)
    days = [r["cert_days_left"] for r in records if r["cert_days_left"] is not None]
    login_ok = credential is None or credential["ok"]
    passed = fail_pct <= max_fail and login_ok
    headline = "%d of %d hosts ready; %d blocked" % (counts["ready"], n, counts["blocked"])
    if counts["not_applicable"]:
        headline += "; %d not applicable" % counts["not_applicable"]
    verdict = "%d of %d hosts passed the connectivity check; %d failed%s; %s%% failed, %s%% allowed%s: %s" % (
        n - failed, n, failed, ", %d of them unreachable" % unreachable if unreachable else "",
        _pct(fail_pct), _pct(max_fail), "" if login_ok else "; the login could not be checked",
        "PASSED" if passed else "FAILED")
    return {
        "hosts": n, "hosts_ok": n - failed, "hosts_failed": failed, "hosts_unreachable": unreachable,
        "hosts_ready": counts["ready"], "hosts_not_ready": n - counts["ready"],
        "hosts_blocked": counts["blocked"], "hosts_not_applicable": counts["not_applicable"],
        "records": len(records), "records_by_status": by_status, "fail_percentage": fail_pct,
        "max_fail_percentage": max_fail, "passed": passed, "cert_min_days_left": min(days) if days else None,
        "headline": headline, "verdict": verdict,
        "cause": None if passed else _cause(findings, credential),
    }


def lead_lines(summary):
    """The report's message, connectivity first: the verdict, the real cause, then XOAUTH2 readiness."""
    lines = ["%s." % summary["verdict"]]
    if summary.get("cause"):
        lines.append("Cause: %s." % summary["cause"].rstrip("."))
    lines.append("XOAUTH2 readiness: %s." % summary["headline"])
    return lines


def lead(summary):
    return " ".join(lead_lines(summary))


def _relay_records(relay):
    if relay is None:
        return {}
    if not isinstance(relay, dict):
        raise ReportInputError("relay must be a dict of host -> {hops: the probe's relays result, upstream: "
                               "{mode, result}}")
    return dict((host, _report_relay.relay_record(value)) for host, value in relay.items())


def _observed_of(observed, host, host_apps, relay_upstream):
    """The observed way of each app of a host, or None when the report was not given what the hosts' files say."""
    if observed is None or host_apps is None:
        return None
    return _observed.observed_apps(observed.get(host), host_apps, relay_upstream)


def build_report(results, apps=None, connector=None, max_fail_percentage=0, title=None, generated=None,
                 credential=None, relay_upstream=None, relay=None, credential_type=None, observed=None):
    """The report dict (see docs/report.md) from host -> probe result.

    credential: the registered result of the vault_credentials task, or None when no credential was asked for.
    relay_upstream: host -> the upstream (xoauth2, connector, basic) of the relay its via_relay apps use.
    relay: host -> {hops, upstream} (see _report_relay): the hops to its relays and its own relay's upstream check.
    credential_type: basic, oauth2 or None: the login the direct applications use, for their path.
    observed: host -> what mailops.smtp.host_settings read with observe on the host (its result, apps in the order
    of the host's apps), or None when the hosts' files were not read; a host left out is read as unknown.
    """
    max_fail = _check_inputs(results, apps, connector, max_fail_percentage)
    if relay_upstream is not None and not isinstance(relay_upstream, dict):
        raise ReportInputError("relay_upstream must be a dict of host -> the upstream of its relay "
                               "(xoauth2, connector or basic)")
    relay_upstream = scrub(relay_upstream or {})
    if observed is not None and not isinstance(observed, dict):
        raise ReportInputError("observed must be a dict of host -> the result of mailops.smtp.host_settings with "
                               "observe")
    # Not scrubbed: scrub() would hide holds_password (a *_password key); _observed keeps only words of its
    # own fixed sets and booleans from it, never a value of the files (the module returns none either).
    results = scrub(results)
    apps = scrub(apps) if apps is not None else {}
    connector = scrub(connector) if connector is not None else {}
    cred = credential_record(scrub(credential) if credential is not None else None)
    relay_records = _relay_records(scrub(relay) if relay is not None else None)
    upstream_ok = _report_relay.upstream_ok_by_host(relay_records)
    cred_type = credential_type if credential_type in ("basic", "oauth2") else None

    # The probe lists ports in the endpoint's order (the applications' port first); keep it.
    fleet_ports = []
    for host in sorted(results, key=_natural):
        res = results[host]
        if isinstance(res, dict) and isinstance(res.get("ports"), dict):
            for p in res["ports"]:
                if str(p) not in fleet_ports:
                    fleet_ports.append(str(p))

    def port_order(p):
        return (fleet_ports.index(str(p)), "") if str(p) in fleet_ports else (len(fleet_ports), str(p))

    fleet_endpoint = _fleet_endpoint(results)
    hosts, records, endpoints, relay_findings = [], [], {}, []
    for host in sorted(results, key=_natural):
        host_apps = apps.get(host)
        if host_apps is not None and not isinstance(host_apps, list):
            host_apps = [host_apps]
        entry, host_records, endpoints[host] = _host_entry(
            host, results[host], fleet_ports, port_order, host_apps,
            connector.get(host) if host in connector else None, fleet_endpoint, relay_upstream.get(host),
            paths={"cred_type": cred_type, "record": relay_records.get(host), "upstream_ok": upstream_ok},
            observed=_observed_of(observed, host, host_apps, relay_upstream.get(host)))
        relay_findings.extend(_report_relay.finding_records(host, relay_records.get(host)))
        for r in host_records:
            r["ready"] = entry["readiness"]["ready"]
        entry["ports"] = [r["port"] for r in host_records if r["port"] is not None]
        hosts.append(entry)
        records.extend(host_records)

    findings = _findings(records + relay_findings, port_order)
    now = generated or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema_version": SCHEMA_VERSION,
        "title": str(title or "SMTP submission readiness"),
        "generated": now,
        "summary": _summary(hosts, records, max_fail, cred, findings),
        "credential": cred,
        "ports": [_int_or_none(p) for p in fleet_ports if _int_or_none(p) is not None],
        "findings": findings,
        "readiness_findings": _readiness_findings(hosts, endpoints),
        "hosts": hosts,
        "records": records,
    }


def _pct(v):
    return ("%.2f" % v).rstrip("0").rstrip(".")
