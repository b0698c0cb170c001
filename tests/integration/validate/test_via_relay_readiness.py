# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""XOAUTH2 readiness of applications in options.mode via_relay, through the validate role (issue 20 section 2).

Two hosts list Grafana and a generic .env app in via_relay mode in smtp_configure_apps, as an
operator's inventory would. The first says its relay's upstream is xoauth2 (mailops_smtp_relay_upstream),
the second says basic: the first is ready, the second is blocked with relay_without_oauth for each
application. One run serves every assertion.
"""

from __future__ import annotations

import pytest
import yaml

from .conftest import host_names

VIA = {"mode": "via_relay"}
APPS = [{"preset": "grafana", "options": VIA},
        {"format": "env", "path": "/srv/app/.env", "keys": {"host": "SMTP_HOST"}, "options": VIA}]


@pytest.fixture(scope="module")
def relay_run(lab, validate, fresh_standins, tmp_path_factory):
    xo, basic = host_names(lab, 2)
    scratch = tmp_path_factory.mktemp("validate-via-relay")
    inventory = scratch / "relays.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {
        xo: {"smtp_configure_apps": APPS, "mailops_smtp_relay_upstream": "xoauth2"},
        basic: {"smtp_configure_apps": APPS, "mailops_smtp_relay_upstream": "basic"}}}}))
    run = validate(scratch / "report", "--limit", "%s,%s" % (xo, basic), inventories=[inventory],
                   extra_vars={"smtp_validate_auth_hosts": "none"})
    return {"xo": xo, "basic": basic, "run": run}


def test_an_app_via_a_relay_with_an_oauth_upstream_is_ready(relay_run):
    run = relay_run["run"]
    assert run.rc == 0, run.explain()
    ready = {h["host"]: h["readiness"] for h in run.report["hosts"]}
    xo = ready[relay_run["xo"]]
    assert xo["ready"] is True and xo["reasons"] == [], xo
    assert [(a["name"], a["oauth"]) for a in xo["apps"]] == [("grafana (via relay)", True), ("env (via relay)", True)]
    basic = ready[relay_run["basic"]]
    assert basic["ready"] is False
    assert [r["code"] for r in basic["reasons"]] == ["relay_without_oauth", "relay_without_oauth"]
    assert "upstream is basic" in basic["reasons"][0]["text"]
    assert run.report["summary"]["headline"] == "1 of 2 hosts ready; 1 blocked"
