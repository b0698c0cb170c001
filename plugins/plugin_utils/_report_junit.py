# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.junit.xml: one test case per host and port, so that CI systems show the fleet natively.

Internal use only. A failed or unreachable record is a <failure>, a port the
endpoint is expected not to offer is <skipped>, a passing record with a warning
(an expiring certificate) passes and says so in <system-out>.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import xml.etree.ElementTree as ET

from ansible_collections.mailops.smtp.plugins.plugin_utils._report import login_cell
from ansible_collections.mailops.smtp.plugins.plugin_utils._report_relay import check_rows, path_rows

# XML 1.0 cannot carry most control characters, even escaped; a server reply might.
_XML_BAD = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _t(text):
    return _XML_BAD.sub("?", "" if text is None else str(text))


def _details(r):
    lines = []
    if r.get("message"):
        lines.append("message: %s" % r["message"])
    for s in r["stages"]:
        ms = "-" if s["ms"] is None else s["ms"]
        lines.append("%-8s %-4s %6s ms  %s" % (s["name"], "ok" if s["ok"] else "FAIL", ms, s["detail"]))
    tls = r["tls"] or {}
    if tls:
        lines.append("tls: %s %s" % (tls.get("version"), tls.get("cipher")))
        cert = tls.get("cert") or {}
        if cert:
            lines.append("certificate: %s, issuer %s, expires %s (%s days left), trusted %s, name match %s" % (
                cert.get("subject"), cert.get("issuer"), cert.get("not_after"), cert.get("days_left"),
                cert.get("chain_trusted"), cert.get("hostname_match")))
    if r["auth_mechanisms"]:
        lines.append("auth mechanisms: %s" % " ".join(r["auth_mechanisms"]))
    lines.append("login: %s" % login_cell(r))
    d = r["diagnosis"]
    if d:
        lines += ["diagnosis: %s (%s)" % (d["code"], d["title"]), "cause: %s" % d["cause"], "fix: %s" % d["fix"]]
        if d["reference"]:
            lines.append("reference: %s" % d["reference"])
    lines.append("XOAUTH2 ready: %s" % ("yes" if r["ready"] else "no"))
    return "\n".join(lines)


def _relay_case(suite, c, paths):
    """A relay check (a hop, an upstream) as a test case of its own; one not run is skipped."""
    case = ET.SubElement(suite, "testcase", classname=_t("smtp.%s" % c["host"]), name=_t("%s %s" % (c["host"], c["name"])),
                         time="0.000")
    d = c["diagnosis"] or {}
    if c["ok"] is False:
        el = ET.SubElement(case, "failure", type=_t(d.get("code") or "failed"),
                           message=_t("%s: %s" % (d.get("code"), d.get("title"))))
        el.text = _t("%s\ncause: %s\nfix: %s" % (c["text"], d.get("cause"), d.get("fix")))
    elif c["ok"] is None:
        ET.SubElement(case, "skipped", message=_t(c["text"] or "not checked"))
    lines = [c["text"]] + ["path of %s: %s, works now: %s, survives the retirement: %s" % (
        p["app"], p["path"], p["works_now"], p["survives"]) for p in paths if p["host"] == c["host"]]
    ET.SubElement(case, "system-out").text = _t("\n".join(lines))


def render(report):
    records = report["records"]
    checks = check_rows(report)
    failures = sum(1 for r in records if r["status"] in ("fail", "unreachable")) + sum(
        1 for c in checks if c["ok"] is False)
    skipped = sum(1 for r in records if r["status"] == "info") + sum(1 for c in checks if c["ok"] is None)
    seconds = "%.3f" % (sum(r["elapsed_ms"] for r in records) / 1000.0)
    counts = dict(tests=str(len(records) + len(checks)), failures=str(failures), errors="0", skipped=str(skipped),
                  time=seconds)
    suites = ET.Element("testsuites", dict(name=_t(report["title"]), **counts))
    suite = ET.SubElement(suites, "testsuite", dict(name="mailops.smtp fleet validation",
                                                    timestamp=report["generated"], **counts))
    props = ET.SubElement(suite, "properties")
    for key in ("verdict", "cause", "headline"):
        if report["summary"].get(key) is not None:
            ET.SubElement(props, "property", name=key, value=_t(report["summary"][key]))
    for r in records:
        port = "-" if r["port"] is None else str(r["port"])
        case = ET.SubElement(suite, "testcase", classname=_t("smtp.%s" % r["host"]),
                             name=_t("%s port %s" % (r["host"], port)), time="%.3f" % (r["elapsed_ms"] / 1000.0))
        d = r["diagnosis"] or {}
        if r["status"] in ("fail", "unreachable"):
            el = ET.SubElement(case, "failure", type=_t(d.get("code") or "failed"),
                               message=_t("%s: %s" % (d.get("code"), d.get("title"))))
            el.text = _t(_details(r))
        elif r["status"] == "info":
            ET.SubElement(case, "skipped", message=_t("%s: %s (expected)" % (d.get("code"), d.get("title"))))
        out = ET.SubElement(case, "system-out")
        out.text = _t(_details(r))
    paths = path_rows(report)
    for c in checks:
        _relay_case(suite, c, paths)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
