# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connector path in the fleet report: port 25 to the tenant's MX host, from every host.

Three hosts, with smtp_validate_connector_host set: one clean; one that cannot reach the OAuth
token endpoint (so it is not ready for XOAUTH2) but can reach the connector; one whose port 25
is blocked. Then the same fleet without the variable: the column says "not checked".
"""

from __future__ import annotations

import pytest

from .conftest import host_names


@pytest.fixture(scope="module")
def connector(lab, validate, module_knobs, fresh_standins, standins, tmp_path_factory):
    clean, no_token, no_25 = host_names(lab, 3)
    module_knobs.firewall(no_token, 443, "reject")
    module_knobs.firewall(no_25, 25, "reject")
    scratch = tmp_path_factory.mktemp("validate-connector")
    limit = ",".join([clean, no_token, no_25])
    checked = validate(scratch / "checked", "--limit", limit,
                       extra_vars={"smtp_validate_auth_hosts": "none",
                                   "smtp_validate_connector_host": standins.connector_addr[0]})
    unset = validate(scratch / "unset", "--limit", limit, extra_vars={"smtp_validate_auth_hosts": "none"})
    return {"clean": clean, "no_token": no_token, "no_25": no_25, "checked": checked, "unset": unset,
            "counters": fresh_standins.control.counters()}


def _readiness(run) -> dict:
    return {h["host"]: h["readiness"] for h in run.report["hosts"]}


def test_every_host_reports_whether_the_connector_path_is_open(connector):
    run = connector["checked"]
    # Readiness is reported, not counted: the run passes.
    assert run.rc == 0, run.explain()
    ready = _readiness(run)
    assert ready[connector["clean"]]["ready"] is True
    assert ready[connector["clean"]]["connector"]["reachable"] is True
    # Not ready (no TLS to the token endpoint), and the way out is open.
    no_token = ready[connector["no_token"]]
    assert no_token["ready"] is False
    assert [r["code"] for r in no_token["reasons"]] == ["oauth_endpoint_unreachable"]
    assert no_token["connector"]["reachable"] is True
    assert "25" in no_token["connector"]["summary"]
    blocked = ready[connector["no_25"]]["connector"]
    assert blocked["reachable"] is False and "tcp_refused" in blocked["summary"], blocked


def test_the_connector_saw_the_hosts_that_could_reach_it(connector):
    # The two hosts that reached port 25; the second run does not check the path.
    assert connector["counters"]["ports"]["connector:25"] == 2, connector["counters"]["ports"]


def test_the_markdown_report_shows_the_column(connector):
    md = (connector["checked"].report_dir / "report.md").read_text()
    section = md.split("## XOAUTH2 readiness", 1)[1].split("\n## ", 1)[0]
    # Host -> the last column, "Connector path".
    column = {cells[0]: cells[-1] for cells in
              ([c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
               if line.startswith("| ") and not line.startswith("| Host"))}
    assert column == {connector["clean"]: "reachable", connector["no_token"]: "reachable",
                      connector["no_25"]: "not reachable"}


def test_without_the_variable_the_path_is_not_checked(connector):
    run = connector["unset"]
    assert run.rc == 0, run.explain()
    assert all(r["connector"] is None for r in _readiness(run).values())
    assert "not checked" in (run.report_dir / "report.md").read_text()
