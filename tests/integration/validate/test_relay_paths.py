# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate knows the relay (issue 20 section 3): the hop to it, its upstream, each application's path.

One host, host1 (the relay tests' host, restored by their fixture), runs a relay on its loopback with
the xoauth2 upstream, set up by the smtp_relay role with the oauth2 credential from the lab's OpenBao,
and lists Grafana in options.mode via_relay. Validate checks the hop (127.0.0.1:25, plain SMTP, EHLO)
and, since host1 runs the relay, logs in upstream as the relay does: host1 requests its own token from
the Entra stand-in and logs in with XOAUTH2. The report shows the path "relay -> xoauth2", working now
and surviving the retirement. Then host1's Postfix is stopped: the same run fails with relay_unreachable,
says what to do, and the report shows the path not working now.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.integration.presets.conftest import RETIREMENT_DOC, doc_blocks

from tests.integration.relay import conftest as relay_conftest
from tests.integration.relay.conftest import RELAY

# The relay tests' fixtures, shared: host1 as the lab made it before and after this module, and the relay playbook.
pristine_relay_host = relay_conftest.pristine_relay_host
relay_runner = relay_conftest.relay_runner

ARROW = "relay \u2192 xoauth2"


@pytest.fixture(scope="module")
def relay_paths(lab, validate, fresh_standins, pristine_relay_host, relay_runner, tmp_path_factory):
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    oauth_vault = lab_vars["mailops_smtp_vault_oauth"]
    setup = relay_runner.run(RELAY, {"smtp_relay_vault": oauth_vault, "smtp_relay_ca_path": lab.ca,
                                     "mailops_smtp_relay_upstream": "xoauth2"})
    assert setup.rc == 0, setup.output[-3000:]
    scratch = tmp_path_factory.mktemp("validate-relay-paths")
    inventory = scratch / "relay.yml"
    # As an operator's inventory says it: the app, the relay's upstream, and the relay's credential.
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {RELAY: {
        "smtp_configure_apps": [{"preset": "grafana", "options": {"mode": "via_relay"}}],
        "mailops_smtp_relay_upstream": "xoauth2", "smtp_relay_vault": oauth_vault}}}}))

    def run(name):
        return validate(scratch / name, "--limit", RELAY, inventories=[inventory],
                        extra_vars={"smtp_validate_auth_hosts": "none"})

    working = run("working")
    lab.host_run(RELAY, ["postfix", "stop"])
    try:
        stopped = run("stopped")
    finally:
        lab.host_run(RELAY, ["postfix", "start"])
    return {"working": working, "stopped": stopped}


def _host(run):
    return next(h for h in run.report["hosts"] if h["host"] == RELAY)


def test_a_relay_on_loopback_with_an_xoauth2_upstream_is_checked_hop_and_upstream(relay_paths):
    run = relay_paths["working"]
    assert run.rc == 0, run.explain()
    host = _host(run)
    hop, = host["relay"]["hops"]
    assert (hop["host"], hop["port"], hop["security"], hop["ok"]) == ("127.0.0.1", 25, "none", True), hop
    assert hop["summary"].startswith("25 ok (no TLS)"), hop
    upstream = host["relay"]["upstream"]
    # The relay host requested its own token and logged in with XOAUTH2, as the relay does.
    assert upstream["mode"] == "xoauth2" and upstream["checked"] and upstream["ok"] is True, upstream
    assert "AUTH XOAUTH2 235" in upstream["summary"], upstream
    app, = host["readiness"]["apps"]
    assert app["path"] == "relay_xoauth2" and app["path_label"] == ARROW
    assert app["works_now"] is True and app["survives_retirement"] is True
    md = (run.report_dir / "report.md").read_text()
    # Grafana's file does not exist on host1 (only the relay was set up): the inventory's way stands, and the
    # table's Observed column (issue 21) says so.
    assert app["observed"] == {"method": "none", "relay_upstream": None, "source": "missing",
                               "holds_password": False}, app
    assert f"| {RELAY} | grafana (via relay) | none (missing) | {ARROW} | yes | yes |" in md
    junit = (run.report_dir / "report.junit.xml").read_text()
    assert f'name="{RELAY} relay upstream xoauth2"' in junit


def test_a_stopped_relay_fails_validate_with_what_to_do(relay_paths):
    run = relay_paths["stopped"]
    assert run.rc != 0, run.explain()
    host = _host(run)
    assert host["ok"] is False and host["status"] == "failed"
    hop, = host["relay"]["hops"]
    assert hop["ok"] is False and hop["diagnosis"]["code"] == "relay_unreachable", hop
    assert hop["message"].startswith("the relay at 127.0.0.1:25 refused the connection: run the mailops.smtp.relay "
                                     "playbook on this host"), hop
    app, = host["readiness"]["apps"]
    assert app["path"] == "relay_xoauth2" and app["works_now"] is False and app["survives_retirement"] is True
    assert [f["hosts"] for f in run.report["findings"] if f["code"] == "relay_unreachable"] == [[RELAY]]
    assert run.report["summary"]["cause"].startswith("relay_unreachable"), run.report["summary"]
    assert "relay_unreachable" in run.stdout  # the play's own failure message names it
    md = (run.report_dir / "report.md").read_text()
    assert f"| {RELAY} | grafana (via relay) | none (missing) | {ARROW} | no | yes |" in md


def test_the_docs_jq_names_the_app_whose_path_does_not_work(relay_paths, tmp_path):
    """docs/basic-auth-retirement.md's `paths` example, as written, over the stopped relay's report."""
    run = relay_paths["stopped"]
    (tmp_path / "mailops-smtp-report").mkdir()
    (tmp_path / "mailops-smtp-report" / "report.json").write_text((run.report_dir / "report.json").read_text())
    got = subprocess.run(["sh", "-c", doc_blocks(RETIREMENT_DOC)["paths"]], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=False)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == [f"{RELAY}\tgrafana (via relay)\t{ARROW}\tworks now: false"]
