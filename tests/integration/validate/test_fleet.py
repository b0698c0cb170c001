# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp_validate role on five lab hosts with faults, plus one inventory host that does not exist.

Two playbook runs under the same faults serve every test here:
- `loud`: -vvvv, smtp_validate_max_fail_percentage 0 (the fleet must fail);
- `check`: --check, smtp_validate_max_fail_percentage 70 (4 of 6 hosts failed = 66.67%: the fleet passes).
Both check AUTH from one host per group with the credential fetched from Vault.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.lab.core import REPO

from .conftest import host_names, write_ghost_inventory

FAULTS = {  # host index -> (knob, args, the diagnosis expected on 587)
    1: ("firewall", (587, "drop"), "tcp_timeout"),
    2: ("firewall", (587, "reject"), "tcp_refused"),
    3: ("latency", (50,), None),
    4: ("remove_name", (), "dns_failure"),
}
LATENCY_MS = 50
GHOST = "ghost"
FILES = ("report.json", "report.junit.xml", "report.md", "report.html")
ARTIFACTS = REPO / "tests" / "output"


@pytest.fixture(scope="module")
def fleet(lab, validate, module_knobs, fresh_standins, tmp_path_factory):
    hosts = host_names(lab, 5)
    for i, (knob, args, _code) in FAULTS.items():
        getattr(module_knobs, knob)(hosts[i], *args)
    scratch = tmp_path_factory.mktemp("validate-fleet")
    ghost_inv = write_ghost_inventory(lab, scratch / "ghost.json", GHOST)
    limit = ",".join([*hosts, GHOST])
    loud = validate(scratch / "loud", "--limit", limit, "-vvvv", inventories=[ghost_inv])
    fresh_standins.control.reset()
    check = validate(scratch / "check", "--limit", limit, "--check", inventories=[ghost_inv],
                     extra_vars={"smtp_validate_max_fail_percentage": 70})
    return {"hosts": hosts, "loud": loud, "check": check}


def _expected(fleet) -> dict:
    hosts = fleet["hosts"]
    want = {hosts[0]: None}
    want.update({hosts[i]: code for i, (_k, _a, code) in FAULTS.items()})
    return want


def test_each_host_carries_its_diagnosis(fleet):
    run = fleet["loud"]
    records = run.records()
    hosts = fleet["hosts"]
    for host, code in _expected(fleet).items():
        rec = records[(host, 587)]
        assert (rec["diagnosis"] or {}).get("code") == code, (host, rec["diagnosis"], run.explain())
        assert rec["status"] == ("pass" if code is None else "fail"), (host, rec["status"])
        # 465 is not offered by Microsoft 365: information, not a failure, wherever DNS works.
        want465 = "dns_failure" if code == "dns_failure" else "port_not_offered"
        assert records[(host, 465)]["diagnosis"]["code"] == want465, (host, records[(host, 465)])
    by_host = {h["host"]: h for h in run.report["hosts"]}
    assert {h for h, v in by_host.items() if v["status"] == "ok"} == {hosts[0], hosts[3]}
    assert by_host[hosts[0]]["readiness"]["ready"] and by_host[hosts[3]]["readiness"]["ready"]
    # The grouped findings name exactly the hosts of each fault.
    findings = {f["code"]: f for f in run.report["findings"]}
    for host, code in _expected(fleet).items():
        if code:
            assert findings[code]["hosts"] == [host], findings[code]


def test_the_latency_host_passes_and_its_stages_show_the_delay(fleet):
    rec = fleet["loud"].records()[(fleet["hosts"][3], 587)]
    assert rec["status"] == "pass" and rec["diagnosis"] is None
    stages = {s["name"]: s for s in rec["stages"]}
    assert all(s["ok"] for s in rec["stages"]), rec["stages"]
    # A TCP handshake is one round trip: at least the added delay there and back.
    assert stages["connect"]["ms"] >= 2 * LATENCY_MS * 0.9, stages["connect"]


def test_auth_ran_with_the_credential_from_vault(fleet, fresh_standins):
    records = fleet["loud"].records()
    first = fleet["hosts"][0]
    auth = records[(first, 587)]["auth"]
    assert auth == {"mechanism": "LOGIN", "ok": True, "reply": auth["reply"]} and auth["reply"].startswith("235")
    # One host per inventory group checks AUTH: the first passing host of the lab's group.
    authed = {h for (h, p), r in records.items() if r.get("auth")}
    assert authed == {first}


def test_report_json_passes_its_schema(fleet):
    import jsonschema
    schema = json.loads((REPO / "docs" / "report.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    for name in ("loud", "check"):
        errors = sorted(cls(schema).iter_errors(fleet[name].report), key=lambda e: list(e.path))
        assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_junit_parses_with_one_case_per_host_and_port(fleet):
    run = fleet["loud"]
    root = ET.parse(run.report_dir / "report.junit.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert len(cases) == len(run.report["records"]) == 12
    for host, code in _expected(fleet).items():
        case = cases[f"{host} port 587"]
        assert case.get("classname") == f"smtp.{host}"
        failure = case.find("failure")
        assert (failure.get("type") if failure is not None else None) == code, host
    assert cases[f"{GHOST} port 587"].find("failure").get("type") == "host_unreachable"
    assert cases[f"{fleet['hosts'][0]} port 465"].find("skipped") is not None
    assert int(suite.get("tests")) == 12


def test_the_exit_code_follows_max_fail_percentage(fleet):
    loud, check = fleet["loud"], fleet["check"]
    # 4 of 6 failed: 0% allowed fails the run after the report; 70% allowed passes it.
    assert loud.rc == 2, loud.explain()
    assert "66.67% failed, 0% allowed: FAILED" in loud.stdout
    assert (loud.report_dir / "report.json").exists()
    assert check.rc == 0, check.explain()
    summary = check.report["summary"]
    assert summary["passed"] is True and summary["max_fail_percentage"] == 70
    assert loud.report["summary"]["passed"] is False


def test_an_unreachable_host_counts_as_failed(fleet):
    for name in ("loud", "check"):
        report = fleet[name].report
        ghost = {h["host"]: h for h in report["hosts"]}[GHOST]
        assert ghost["status"] == "unreachable" and not ghost["readiness"]["ready"]
        recs = [r for r in report["records"] if r["host"] == GHOST]
        assert {r["status"] for r in recs} == {"unreachable"}
        assert {r["diagnosis"]["code"] for r in recs} == {"host_unreachable"}
        assert "ssh" in recs[0]["message"].lower()
        s = report["summary"]
        assert (s["hosts"], s["hosts_failed"], s["hosts_unreachable"]) == (6, 4, 1)
        assert s["fail_percentage"] == 66.67


def _essence(report: dict) -> dict:
    """What a run found, without times, dates and the verdict's threshold."""
    recs = []
    for r in report["records"]:
        recs.append({
            "host": r["host"], "port": r["port"], "status": r["status"], "ok": r["ok"],
            "failed_stage": r["failed_stage"], "ready": r["ready"],
            "diagnosis": (r["diagnosis"] or {}).get("code"),
            "stages": [(s["name"], s["ok"]) for s in r["stages"]],
            "auth": r["auth"] and {k: r["auth"][k] for k in ("mechanism", "ok")},
            "auth_mechanisms": r["auth_mechanisms"],
        })
    # `cause` explains a failed verdict, so it follows the threshold as the verdict does.
    summary = {k: v for k, v in report["summary"].items()
               if k not in ("passed", "verdict", "max_fail_percentage", "cause")}
    findings = [(f["code"], f["hosts"], f["ports"]) for f in report["findings"]]
    return {"records": recs, "summary": summary, "findings": findings}


def test_check_mode_reports_the_same_and_changes_nothing(fleet):
    loud, check = fleet["loud"], fleet["check"]
    assert _essence(check.report) == _essence(loud.report)
    for run in (loud, check):
        for name in FILES:
            path = run.report_dir / name
            assert path.stat().st_mode & 0o777 == 0o640, path
        recap = run.recap()
        assert set(recap) == {*fleet["hosts"], GHOST}, run.explain()
        assert all(v["changed"] == 0 for v in recap.values()), recap


def test_no_secret_in_verbose_output_or_reports(fleet, lab, standins):
    loud = fleet["loud"]
    assert "ESTABLISH SSH CONNECTION" in loud.stdout, "the run was not -vvvv"
    token = Path(lab.state["vault"]["token_file"]).read_text().strip()
    secrets = {"the mailbox password": standins.password, "the Vault token": token}
    for run in (loud, fleet["check"]):
        texts = {"stdout": run.stdout, "stderr": run.stderr}
        texts.update({name: (run.report_dir / name).read_text() for name in FILES})
        for what, secret in secrets.items():
            assert len(secret) >= 8
            leaked = [where for where, text in texts.items() if secret in text]
            assert not leaked, f"{what} appears in {leaked}"


class _Dom(HTMLParser):
    """The rows of the host x port table and the grouped findings, from the rendered DOM."""

    def __init__(self):
        super().__init__()
        self.table_rows, self.findings, self.body = [], [], {}
        self._in_records = False
        self._in_shown = False
        self.shown = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "table":
            self._in_records = a.get("id") == "records"
        if tag == "tr" and self._in_records and "data-host" in a:
            self.table_rows.append(a)
        if tag == "div" and "finding" in (a.get("class") or "").split():
            self.findings.append(a.get("data-code"))
        self._in_shown = a.get("id") == "shown"

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_records = False

    def handle_data(self, data):
        if self._in_shown:
            self.shown += data


def _chromium(lab, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed: `make setup` installs it (tests/apt-packages.txt)")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
           f"--user-data-dir={tmp}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_the_html_report_renders_in_chromium(fleet, lab, tmp_path):
    # The test process already runs in the lab's controller namespace: the browser cannot reach outside.
    run = fleet["loud"]
    url = (run.report_dir / "report.html").as_uri()
    dom = _chromium(lab, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Dom()
    parsed.feed(dom.stdout)
    assert parsed.body.get("data-js") == "ready", "the page's script did not run in the browser"
    assert {r["data-host"] for r in parsed.table_rows} == {*fleet["hosts"], GHOST}
    assert len(parsed.table_rows) == 12
    # The script wrote the row count: 12 rows over 6 hosts, none filtered out.
    assert parsed.shown.strip() == "Showing 12 of 12 rows (6 hosts)"
    statuses = {}
    for row in parsed.table_rows:
        statuses.setdefault(row["data-host"], set()).add(row["data-status"])
    assert statuses[fleet["hosts"][0]] == {"pass", "info"} and statuses[GHOST] == {"unreachable"}
    assert statuses[fleet["hosts"][1]] == {"fail", "info"}
    want = {c for c in _expected(fleet).values() if c} | {"host_unreachable", "port_not_offered"}
    assert set(parsed.findings) == want
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "validate-fleet-report.png"
    shot.unlink(missing_ok=True)
    res = _chromium(lab, tmp_path / "profile-shot", "--hide-scrollbars", "--window-size=1280,2400",
                    f"--screenshot={shot}", url)
    assert res.returncode == 0 and shot.stat().st_size > 10000, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
