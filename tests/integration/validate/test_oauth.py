# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""AUTH with an OAuth 2.0 credential from Vault: the role fetches one access token and uses XOAUTH2."""

from __future__ import annotations

import json

import pytest

from .conftest import host_names


@pytest.fixture(scope="module")
def oauth(lab, validate, vault_vars, fresh_standins, tmp_path_factory):
    hosts = host_names(lab, 2)
    vault = json.loads(vault_vars.read_text())["mailops_smtp_vault_oauth"]
    fresh_standins.control.reset()
    run = validate(tmp_path_factory.mktemp("validate-oauth") / "report", "--limit", ",".join(hosts),
                   extra_vars={"smtp_validate_vault": vault, "smtp_validate_auth_hosts": "all"})
    return {"hosts": hosts, "run": run, "counters": fresh_standins.control.counters()}


def test_oauth2_credential_authenticates_with_xoauth2(oauth, standins):
    run = oauth["run"]
    assert run.rc == 0, run.explain()
    records = run.records()
    for host in oauth["hosts"]:
        auth = records[(host, 587)]["auth"]
        assert auth["mechanism"] == "XOAUTH2" and auth["ok"] and auth["reply"].startswith("235"), (host, auth)
        assert records[(host, 587)]["ready"] is True
    # The credential is fetched once on the controller: one token for the whole fleet.
    assert oauth["counters"]["entra"]["tokens_issued"] == 1, oauth["counters"]["entra"]
    assert oauth["counters"]["mailboxes"][standins.mailbox.lower()]["auth_ok"] == len(oauth["hosts"])


def test_the_client_secret_appears_nowhere(oauth, standins):
    run = oauth["run"]
    texts = [run.stdout, run.stderr] + [p.read_text() for p in run.report_dir.iterdir() if p.is_file()]
    assert not any(standins.app.secret in t for t in texts)
