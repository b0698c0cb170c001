# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.html in a real browser: headless Chromium renders it, runs its script, and takes a screenshot.

The screenshot is kept as a test artifact in tests/output/report.png (git-ignored).
As root, Chromium runs in a network namespace of its own that has only loopback,
so the page cannot reach any network even if it tried.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils import _report_html

from test_report import HOSTS, build

REPO = Path(__file__).resolve().parents[4]
OUTPUT = REPO / "tests" / "output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _isolated(cmd):
    """Run cmd without any network but loopback when we may create a network namespace."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--net", "--"] + cmd
    return cmd


def _chromium(profile, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
           "--disable-extensions", "--user-data-dir=%s" % profile] + list(args)
    return subprocess.run(_isolated(cmd), capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(_report_html.render(build()), encoding="utf-8")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "report.png"
    if shot.exists():
        shot.unlink()

    dom = _chromium(tmp_path / "profile-dom", "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The script ran: it marks the body and counts what the filter shows.
    assert 'data-js="ready"' in html
    assert "Showing 12 of 12 rows (6 hosts)" in html
    body = html.split('<table id="records">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-host="([^"]+)" data-status="([a-z]+)"', body)
    assert len(rows) == 12 and sorted(set(host for host, _status in rows)) == HOSTS
    assert "1 of 6 hosts ready; 5 blocked" in html
    for code in ("tcp_timeout", "tcp_refused", "dns_failure", "host_unreachable"):
        assert 'data-code="%s"' % code in html

    snap = _chromium(tmp_path / "profile-shot", "--hide-scrollbars", "--window-size=1400,1000",
                     "--screenshot=%s" % shot, page.as_uri())
    assert snap.returncode == 0, snap.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
