# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role run twice in one play: the second report holds only what the second run checked.

Registered results and facts outlive a role include, so an AUTH result from the first run
must not reach the second run's report, and a credential fetched by the first run must not
make the second check AUTH.
"""

from __future__ import annotations

import json

import pytest

from .conftest import host_names

PLAY = """
- name: Validate twice in one play
  hosts: all
  gather_facts: false
  tasks:
    - name: With AUTH from every host, the credential from Vault
      ansible.builtin.include_role:
        name: mailops.smtp.smtp_validate
      vars:
        smtp_validate_vault: "{{ mailops_smtp_vault }}"
        smtp_validate_auth_hosts: all
        smtp_validate_report_dir: "{{ report_root }}/first"
    - name: Connectivity only, without a credential
      ansible.builtin.include_role:
        name: mailops.smtp.smtp_validate
      vars:
        smtp_validate_vault: {}
        smtp_validate_report_dir: "{{ report_root }}/second"
"""


@pytest.fixture(scope="module")
def twice(lab, vault_vars, fresh_standins, tmp_path_factory):
    hosts = host_names(lab, 2)
    root = tmp_path_factory.mktemp("validate-twice")
    play = root / "play.yml"
    play.write_text(PLAY)
    proc = lab.ansible([str(play), "--limit", ",".join(hosts), "-e", f"@{vault_vars}",
                        "-e", json.dumps({"report_root": str(root), "smtp_validate_timeout": 3})], timeout=300)
    reports = {}
    for name in ("first", "second"):
        path = root / name / "report.json"
        reports[name] = json.loads(path.read_text()) if path.is_file() else None
    return {"hosts": hosts, "proc": proc, "reports": reports,
            "counters": fresh_standins.control.counters()}


def _auth_stages(report: dict) -> dict:
    return {(r["host"], r["port"]): s["ok"] for r in report["records"] for s in r["stages"] if s["name"] == "auth"}


def test_both_runs_pass_and_write_their_reports(twice):
    proc = twice["proc"]
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    for name, report in twice["reports"].items():
        assert report is not None, name
        assert report["summary"]["passed"] is True and report["summary"]["hosts"] == len(twice["hosts"]), name


def test_the_first_run_checked_auth_from_every_host(twice, standins):
    assert {host for host, _port in _auth_stages(twice["reports"]["first"])} == set(twice["hosts"])
    assert all(_auth_stages(twice["reports"]["first"]).values())
    assert twice["counters"]["mailboxes"][standins.mailbox.lower()]["auth_ok"] >= len(twice["hosts"])


def test_the_second_report_holds_no_auth_left_by_the_first(twice):
    assert _auth_stages(twice["reports"]["second"]) == {}
