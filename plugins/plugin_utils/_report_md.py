# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain-text renderings of the fleet report: report.md and the play's summary table.

Internal use only. Input is the dict of _report.build_report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._report import lead_lines, login_cell, reason_text
from ansible_collections.mailops.smtp.plugins.plugin_utils._report_relay import check_rows, path_rows, yes_no

READY_WORD = {"ready": "yes", "blocked": "no", "not_applicable": "not applicable"}
STATUS_WORD = {"pass": "ok", "warn": "ok, warning", "info": "not offered (expected)", "fail": "FAILED",
               "unreachable": "UNREACHABLE"}


def _cell(text):
    """Markdown table cells: one line, no pipe that would split the cell."""
    return str(text if text is not None else "").replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def _record_result(r):
    word = STATUS_WORD[r["status"]]
    if r["status"] in ("fail", "unreachable", "warn") and r["diagnosis"]:
        return "%s: %s" % (word, r["diagnosis"]["code"])
    return word


def render(report):
    s = report["summary"]
    out = ["# %s" % _cell(report["title"]), "",
           "Generated %s." % report["generated"], "",
           "**%s.**%s" % (s["verdict"], " Cause: %s" % _cell(s["cause"]) if s.get("cause") else ""), "",
           "XOAUTH2 readiness: %s." % s["headline"], ""]
    cred = report.get("credential")
    if cred is not None:
        out += ["Credential: %s" % ("fetched" if cred["ok"] else "NOT fetched, so no login was checked: %s"
                                    % _cell(cred["diagnosis"]["cause"])), ""]
    if s["cert_min_days_left"] is not None:
        out += ["Earliest certificate expiry seen: %d days." % s["cert_min_days_left"], ""]

    out += ["## Findings", ""]
    if not report["findings"]:
        out += ["Nothing to fix.", ""]
    for f in report["findings"]:
        out.append("- **[%s] %s** (`%s`, port %s): %s  " % (
            f["severity"], _cell(f["title"]), f["code"], ", ".join(str(p) for p in f["ports"]) or "-",
            ", ".join(f["hosts"])))
        out.append("  Cause: %s  " % _cell(f["cause"]))
        ref = "  \n  Reference: <%s>" % f["reference"] if f["reference"] else ""
        out.append("  Fix: %s%s" % (_cell(f["fix"]), ref))
    out.append("")

    out += ["## XOAUTH2 readiness", "", "| Host | Ready | Reasons | Applications | Connector path |",
            "|---|---|---|---|---|"]
    for h in report["hosts"]:
        rd = h["readiness"]
        apps = ", ".join("%s (%s)" % (a["name"], "OAuth" if a["oauth"] else "no OAuth")
                         for a in rd["apps"]) if rd["apps"] is not None else "not known"
        conn = "not checked" if rd["connector"] is None else (
            "reachable" if rd["connector"]["reachable"] else "not reachable")
        out.append("| %s | %s | %s | %s | %s |" % (
            _cell(h["host"]), READY_WORD[rd["status"]],
            _cell("; ".join(r["text"] for r in rd["reasons"]) or "-"), _cell(apps), conn))
    out.append("")

    out += _paths_section(report)

    out += ["## Hosts and ports", "",
            "| Host | Port | Result | Failed stage | Login | TLS | Certificate days left | Time (ms) |",
            "|---|---|---|---|---|---|---|---|"]
    for r in report["records"]:
        tls = r["tls"] or {}
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            _cell(r["host"]), r["port"] if r["port"] is not None else "-", _cell(_record_result(r)),
            r["failed_stage"] or "-", _cell(login_cell(r)), _cell(tls.get("version") or "-"),
            r["cert_days_left"] if r["cert_days_left"] is not None else "-", r["elapsed_ms"]))
    out.append("")
    return "\n".join(out)


def _paths_section(report):
    """Each application's path, whether it works now and after the retirement; then the relay checks."""
    rows = path_rows(report)
    out = []
    if rows:
        # The observed column only when validate read the hosts' files (issue 21).
        seen = any(r["observed"] != "not read" for r in rows)
        out += ["## Application paths", "", "| Host | Application | %sPath | Works now | Survives the retirement |"
                % ("Observed | " if seen else ""), "|---|---|---|---|---|" + ("---|" if seen else "")]
        out += ["| %s | %s | %s%s | %s | %s |" % (
            _cell(r["host"]), _cell(r["app"]), (_cell(r["observed"]) + " | ") if seen else "", _cell(r["path"]),
            r["works_now"], r["survives"]) for r in rows]
        out.append("")
    checks = check_rows(report)
    if checks:
        out += ["## Relays", "", "| Host | Check | Result | Details |", "|---|---|---|---|"]
        for c in checks:
            result = yes_no(c["ok"]) if c["ok"] is not True else "ok"
            if c["ok"] is False:
                result = "FAILED: %s" % ((c["diagnosis"] or {}).get("code") or "failed")
            out.append("| %s | %s | %s | %s |" % (_cell(c["host"]), _cell(c["name"]), _cell(result),
                                                  _cell(c["text"])))
        out.append("")
    return out


def _short(r):
    if r is None:
        return "-"
    if r["status"] == "pass":
        return "ok %d ms" % r["elapsed_ms"]
    if r["status"] == "warn":
        return "ok, %s" % r["diagnosis"]["code"]
    if r["status"] == "info":
        return "not offered (expected)"
    return (r["diagnosis"] or {}).get("code") or "failed"


def _ready_short(h):
    rd = h["readiness"]
    if rd["status"] != "blocked":
        return {"ready": "ready", "not_applicable": "n/a (no OAuth authority)"}[rd["status"]]
    short = []
    for x in rd["reasons"]:
        text = reason_text(x["code"], h["endpoint"], short=True)
        if text not in short:
            short.append(text)
    return "no: " + ", ".join(short)


def summary_table(report):
    """A short table for the end of the play: the verdict and its cause first, then one line per host."""
    ports = [str(p) for p in report["ports"]]
    by_host = {}
    for r in report["records"]:
        by_host.setdefault(r["host"], {})[str(r["port"])] = r
    rows = [["HOST"] + ports + ["LOGIN", "XOAUTH2"]]
    for h in report["hosts"]:
        mine = by_host.get(h["host"], {})
        logins = ["%s %s" % (p, login_cell(mine[p])) for p in ports if p in mine and mine[p].get("auth")]
        rows.append([h["host"]] + [_short(mine.get(p)) for p in ports] + [", ".join(logins) or "-", _ready_short(h)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = lead_lines(report["summary"]) + [""]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)
