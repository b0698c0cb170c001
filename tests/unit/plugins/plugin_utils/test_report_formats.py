# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's renderings: JUnit, Markdown, the play's text table, and the HTML page (statically)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from ansible_collections.mailops.smtp.plugins.plugin_utils import _report, _report_html, _report_junit, _report_md

from test_report import HOSTS, SECRET, TOKEN, build, fleet, poisoned


def test_junit_parses_with_one_testcase_per_host_and_port():
    root = ET.fromstring(_report_junit.render(build()).encode("utf-8"))
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 12
    names = sorted(c.get("name") for c in cases)
    assert names == sorted("%s port %d" % (h, p) for h in HOSTS for p in (587, 465))
    failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    assert failed == ["app2 port 587", "app3 port 587", "app5 port 465", "app5 port 587", "app6 port 465",
                      "app6 port 587"]
    skipped = sorted(c.get("name") for c in cases if c.find("skipped") is not None)
    assert skipped == ["app1 port 465", "app2 port 465", "app3 port 465", "app4 port 465"]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("12", "6", "4")
    timeout = [c for c in cases if c.get("name") == "app2 port 587"][0].find("failure")
    assert timeout.get("type") == "tcp_timeout"
    assert "fix: Open outbound TCP 587" in timeout.text
    warn = [c for c in cases if c.get("name") == "app4 port 587"][0]
    assert warn.find("failure") is None and "cert_expiring" in warn.find("system-out").text


def test_junit_survives_control_characters_in_replies():
    results = fleet()
    results["app3"]["ports"]["587"]["stages"][1]["detail"] = "weird \x00\x07 reply \x1b[31m"
    root = ET.fromstring(_report_junit.render(_report.build_report(results)).encode("utf-8"))
    out = [c for c in root.iter("testcase") if c.get("name") == "app3 port 587"][0].find("system-out").text
    assert "weird ?? reply ?[31m" in out


def test_markdown_has_the_summary_line_and_every_record():
    md = _report_md.render(build())
    assert "XOAUTH2 readiness: 1 of 6 hosts ready; 5 blocked." in md
    assert "; 66.67% failed, 0% allowed: FAILED.** Cause: " in md
    rows = [line for line in md.splitlines() if re.match(r"^\| app\d \| (587|465) \|", line)]
    assert len(rows) == 12
    assert "| app2 | 587 | FAILED: tcp_timeout | connect | - |" in md
    assert "| app1 | 465 | not offered (expected) |" in md


def test_markdown_cells_cannot_break_the_table():
    results = fleet()
    results["app3"]["summary"] = "x"
    results["app3"]["ports"]["587"]["diagnosis"]["title"] = "pipe | and\nnewline"
    md = _report_md.render(_report.build_report(results))
    assert "pipe \\| and newline" in md


def test_summary_table_is_a_readable_table_not_json():
    table = _report_md.summary_table(build())
    lines = table.splitlines()
    assert lines[0].startswith("2 of 6 hosts passed the connectivity check") and lines[1].startswith("Cause: ")
    assert lines[2] == "XOAUTH2 readiness: 1 of 6 hosts ready; 5 blocked."
    header = lines[4].split()
    assert header == ["HOST", "587", "465", "LOGIN", "XOAUTH2"]
    app2 = [line for line in lines if line.startswith("app2")][0]
    assert app2.split()[1:3] == ["tcp_timeout", "not"] and app2.endswith("no: 587 fails")
    assert [line for line in lines if line.startswith("app1")][0].endswith("ready")
    assert "{" not in table


class _Page(HTMLParser):
    """Collects what the report page would load, and its table rows."""

    def __init__(self):
        super().__init__()
        self.loads, self.links, self.rows, self.scripts = [], [], [], 0
        self._tbody = None
        self._in_records = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
            if "src" in a:
                self.loads.append(("script", a["src"]))
        if tag in ("img", "iframe", "audio", "video", "source", "embed") and a.get("src"):
            self.loads.append((tag, a["src"]))
        if tag == "link" and a.get("href"):
            self.loads.append(("link", a["href"]))
        if tag == "object" and a.get("data"):
            self.loads.append(("object", a["data"]))
        if tag == "a":
            self.links.append(a.get("href"))
        if tag == "table" and a.get("id") == "records":
            self._in_records = True
        if tag == "tr" and self._in_records and "data-host" in a:
            self.rows.append((a["data-host"], a["data-status"]))

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_records = False


def test_html_has_summary_findings_rows_and_loads_nothing():
    page = _report_html.render(build())
    parser = _Page()
    parser.feed(page)
    assert "1 of 6 hosts ready; 5 blocked" in page
    assert parser.loads == []
    assert re.search(r"url\(|@import", page) is None
    # Every http(s) address in the page is the href of a plain link (Microsoft docs), never a resource.
    assert any(link.startswith("https://learn.microsoft.com/") for link in parser.links)
    without_links = re.sub(r"<a [^>]*>.*?</a>", "", page, flags=re.S)
    assert "http://" not in without_links and "https://" not in without_links
    assert "default-src 'none'" in page
    assert len(parser.rows) == 12 and sorted(set(host for host, _status in parser.rows)) == HOSTS
    for code in ("tcp_timeout", "tcp_refused", "dns_failure", "host_unreachable", "cert_expiring"):
        assert 'data-code="%s"' % code in page
    assert "1 host</span>port 587 &middot; <code>tcp_timeout</code>" in page
    assert "4 hosts</span>port 465 &middot; <code>port_not_offered</code>" in page
    assert "21 days" in page


def test_html_escapes_server_text():
    results = fleet()
    results["app3"]["ports"]["587"]["stages"][1]["detail"] = '<script src="http://evil.test/x.js"></script>'
    results["app3"]["ports"]["587"]["diagnosis"]["title"] = '<img src="https://evil.test/p.png">'
    page = _report_html.render(_report.build_report(results))
    parser = _Page()
    parser.feed(page)
    assert parser.loads == []
    assert "&lt;script src=&quot;http://evil.test/x.js&quot;&gt;" in page


def test_no_rendering_contains_a_secret():
    report = _report.build_report(poisoned())
    for text in (_report_html.render(report), _report_junit.render(report), _report_md.render(report),
                 _report_md.summary_table(report)):
        assert SECRET not in text and TOKEN not in text
