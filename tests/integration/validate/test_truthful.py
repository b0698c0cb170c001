# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate that never misleads (issue 17): what a new user met, run the way they ran it.

- a custom endpoint on its own ports (10587 STARTTLS, 10465 implicit TLS) with its own CA passes,
  and its XOAUTH2 readiness is "not applicable", not "blocked";
- a dead first port (10588) fails the run, because the applications use it; `any` lets it pass;
- a CA file missing on the hosts is one diagnosis naming the file, not "host unreachable";
- a Vault failure still checks connectivity and writes the report, and fails the verdict;
- the phases are tags: `--skip-tags credential` checks the network path alone, and the report
  is written whatever the tags.

The stand-in opens the extra ports for this module only.
"""

from __future__ import annotations

import re

import pytest

from .conftest import host_names

APPS_PORT, TLS_PORT, DEAD_PORT = 10587, 10465, 10588


def _endpoint(standins, first: int) -> dict:
    return {"profile": "custom", "host": standins.smtp_host,
            "ports": [{"port": first, "security": "starttls"}, {"port": TLS_PORT, "security": "tls"}]}


@pytest.fixture(scope="module")
def custom_ports(fresh_standins):
    control = fresh_standins.control
    control.set_port_mode(APPS_PORT, "starttls")
    control.set_port_mode(TLS_PORT, "tls")
    control.set_port_mode(DEAD_PORT, "closed")
    yield
    for port in (APPS_PORT, TLS_PORT):
        control.set_port_mode(port, "closed")


@pytest.fixture(scope="module")
def runs(lab, validate, custom_ports, standins, vault_vars, tmp_path_factory):
    two = ",".join(host_names(lab, 2))
    one = host_names(lab, 1)[0]
    scratch = tmp_path_factory.mktemp("validate-truthful")
    custom = {"mailops_smtp_endpoint": _endpoint(standins, APPS_PORT)}
    dead_first = {"mailops_smtp_endpoint": _endpoint(standins, DEAD_PORT), "smtp_validate_auth_hosts": "none"}
    return {
        "custom": validate(scratch / "custom", "--limit", two, extra_vars=custom),
        "dead_first": validate(scratch / "dead", "--limit", one, extra_vars=dead_first),
        "dead_first_any": validate(scratch / "dead-any", "--limit", one,
                                   extra_vars=dict(dead_first, smtp_validate_require="any")),
        "no_ca": validate(scratch / "no-ca", "--limit", one,
                          extra_vars={"mailops_smtp_ca_path": "/nonexistent/ca.pem",
                                      "smtp_validate_auth_hosts": "none"}),
        "vault_down": validate(scratch / "vault", "--limit", one,
                               extra_vars={"mailops_smtp_vault": _vault(lab, vault_vars, path="smtp/no-such-secret")}),
        "network_only": validate(scratch / "tags", "--limit", one, "--skip-tags", "credential"),
        "one": one,
    }


def _vault(lab, vault_vars, **changes) -> dict:
    import json
    return dict(json.loads(vault_vars.read_text())["mailops_smtp_vault"], **changes)


def _records(run) -> dict:
    return {(r["host"], r["port"]): r for r in run.report["records"]}


# -- item 1: a working custom endpoint is not "blocked" ----------------------------------------------

def test_a_working_custom_endpoint_passes_and_readiness_does_not_apply(runs):
    run = runs["custom"]
    assert run.rc == 0, run.explain()
    s = run.report["summary"]
    assert s["headline"] == "0 of 2 hosts ready; 0 blocked; 2 not applicable", s
    assert s["passed"] is True and s["cause"] is None
    for host in run.report["hosts"]:
        assert host["readiness"]["status"] == "not_applicable" and host["readiness"]["reasons"] == [], host
        assert host["endpoint"] == {"apps_port": APPS_PORT, "oauth_authority": None}
    # Nothing the user cannot act on, and no port the endpoint does not use (the HTML's glossary of
    # Microsoft 365 terms aside).
    html = (run.report_dir / "report.html").read_text().split('<section id="glossary">', 1)[0]
    for text in (run.stdout, (run.report_dir / "report.md").read_text(), html):
        # As a number, not as digits inside a Message-ID or a session id ("...1558784D...").
        assert not re.search(r"(?<![0-9A-Za-z])587(?![0-9A-Za-z])", text.replace(str(APPS_PORT), "")), text
        assert "check_oauth_endpoint" not in text and "blocked" not in text.replace("0 blocked", "")


def test_the_summary_leads_with_the_connectivity_verdict(runs):
    lines = _summary_lines(runs["custom"].stdout)
    assert lines[0].startswith("2 of 2 hosts passed the connectivity check") and lines[0].endswith("PASSED."), lines
    assert lines[1] == "XOAUTH2 readiness: 0 of 2 hosts ready; 0 blocked; 2 not applicable.", lines


def _summary_lines(stdout: str) -> list[str]:
    block = stdout.split("TASK [mailops.smtp.smtp_validate : Show the fleet summary]", 1)[1]
    return re.findall(r'^\s+"(.*)",?$', block.split("TASK [", 1)[0].split("PLAY RECAP", 1)[0], re.M)


# -- item 3: the applications' port must pass, and the login runs there -------------------------------

def test_the_login_runs_on_the_applications_port(runs):
    run = runs["custom"]
    records = _records(run)
    logins = {(h, p): r["auth"] for (h, p), r in records.items() if r["auth"]}
    assert [p for (_h, p) in logins] == [APPS_PORT], logins
    assert all(a["ok"] for a in logins.values()), logins


def test_a_dead_first_port_fails_the_run(runs):
    run = runs["dead_first"]
    assert run.rc == 2, run.explain()
    s = run.report["summary"]
    assert s["passed"] is False and s["cause"].startswith("tcp_refused"), s
    rec = _records(run)[(runs["one"], DEAD_PORT)]
    assert rec["diagnosis"]["code"] == "tcp_refused" and rec["status"] == "fail"
    assert _records(run)[(runs["one"], TLS_PORT)]["status"] == "pass"
    # The fatal message leads with the verdict and the cause, not with readiness.
    fatal = run.stdout.split("Fail when more hosts than allowed are not ready", 1)[1]
    assert re.search(r'"msg": "0 of 1 hosts passed the connectivity check[^"]*FAILED\. Cause: tcp_refused', fatal)


def test_require_any_lets_a_dead_first_port_pass(runs):
    run = runs["dead_first_any"]
    assert run.rc == 0, run.explain()
    assert run.report["summary"]["passed"] is True


# -- item 4: a login column, with a result only where a login was tried -------------------------------

def test_the_login_column_shows_a_result_only_where_a_login_was_tried(runs):
    run = runs["custom"]
    md = (run.report_dir / "report.md").read_text()
    assert "| Host | Port | Result | Failed stage | Login |" in md
    rows = {(m[0], int(m[1])): m[2] for m in re.findall(r"^\| (\S+) \| (\d+) \| [^|]+ \| [^|]+ \| ([^|]+) \|", md, re.M)}
    logged_in = [k for k, r in _records(run).items() if r["auth"]]
    for key, cell in rows.items():
        assert cell.strip() == ("ok (LOGIN)" if key in logged_in else "-"), (key, cell)
    html = (run.report_dir / "report.html").read_text()
    ticks = re.findall(r'<td class="st ok"[^>]*title="Login: ', html)
    assert len(ticks) == len(logged_in) == 1
    console = _summary_lines(run.stdout)
    header = [line for line in console if line.startswith("HOST")][0].split()
    assert "LOGIN" in header


# -- item 2: a CA file missing on the hosts -----------------------------------------------------------

def test_a_missing_ca_file_is_one_diagnosis_naming_the_file(runs):
    run = runs["no_ca"]
    assert run.rc == 2, run.explain()
    recs = [r for r in run.report["records"] if r["host"] == runs["one"]]
    assert {r["diagnosis"]["code"] for r in recs} == {"local_file_unusable"}
    assert all("/nonexistent/ca.pem" in r["message"] for r in recs)
    findings = run.report["findings"]
    assert [f["code"] for f in findings] == ["local_file_unusable"] and "/nonexistent/ca.pem" in findings[0]["cause"]
    host = run.report["hosts"][0]
    assert [r["code"] for r in host["readiness"]["reasons"]] == ["probe_failed"]
    assert "host unreachable" not in run.stdout and "probe_missing" not in run.stdout
    assert "local_file_unusable" in "\n".join(_summary_lines(run.stdout))


# -- item 5: a Vault failure -------------------------------------------------------------------------

def test_a_vault_failure_still_checks_the_network_and_writes_the_report(runs):
    run = runs["vault_down"]
    assert run.rc == 2, run.explain()
    report = run.report
    cred = report["credential"]
    assert cred["ok"] is False and cred["diagnosis"]["code"] == "credential_unavailable", cred
    assert "smtp/no-such-secret" in cred["diagnosis"]["cause"], cred
    rec = _records(run)[(runs["one"], 587)]
    assert rec["status"] == "pass" and rec["auth"] is None, rec
    s = report["summary"]
    assert s["passed"] is False and s["cause"].startswith("credential_unavailable"), s
    assert "the login could not be checked" in s["verdict"]


# -- item 7: tags -------------------------------------------------------------------------------------

def test_skip_tags_credential_checks_the_network_path_alone(runs):
    run = runs["network_only"]
    assert run.rc == 0, run.explain()
    assert "Fetch the SMTP credential from Vault" not in run.stdout
    assert run.report["credential"] is None
    rec = _records(run)[(runs["one"], 587)]
    assert rec["status"] == "pass" and rec["auth"] is None
