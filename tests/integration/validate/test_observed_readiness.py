# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Readiness from files (issue 21 sections 1 and 4): what the hosts' files say, not what the inventory says.

One host. The configure role writes an msmtp app with the lab's basic credential (a password, in a file
of mode 0600, at a path of its own so that no other test's msmtprc is touched). Then validate runs
with an inventory that says the app is on XOAUTH2 (`smtp.mechanism: xoauth2`, the fleet's oauth2
credential): the report says the host is not ready, `app_holds_password`, and `observed.method` is
basic, from the drift marker. A second validate run has the host's modules run as an unprivileged user
(nobody: ansible_python_interpreter is a wrapper that runs python3 through setpriv, since the lab's SSH
logs in as root only), with
smtp_validate_become false, so the 0600 file cannot be read: the app is `unknown`, never ready.
"""

from __future__ import annotations

import json

import pytest
import yaml

from .conftest import host_names

APP_DIR = "/etc/mailops-observed-test"
APP_PATH = APP_DIR + "/msmtprc"
# The host's modules run as nobody: what a non-root connection user without become is.
UNPRIVILEGED = APP_DIR + "/python-as-nobody"
CONFIGURE = "playbooks/configure.yml"


def _app(**extra):
    return dict({"preset": "msmtp", "path": APP_PATH}, **extra)


@pytest.fixture(scope="module")
def observed_runs(lab, validate, vault_vars, fresh_standins, tmp_path_factory):
    host = host_names(lab, 1)[0]
    scratch = tmp_path_factory.mktemp("validate-observed")
    lab.host_run(host, ["mkdir", "-p", APP_DIR])
    lab.host_run(host, ["sh", "-c", 'cat > "$1" && chmod 755 "$1"', "sh", UNPRIVILEGED],
                 input="#!/bin/sh\nexec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups "
                       "/usr/bin/python3 \"$@\"\n")
    try:
        configured = scratch / "configured.yml"
        configured.write_text(yaml.safe_dump({"all": {"hosts": {host: {"smtp_configure_apps": [_app()]}}}}))
        conf = lab.ansible(["-i", str(configured), CONFIGURE, "--limit", host, "-e", f"@{vault_vars}"], timeout=300)
        assert conf.returncode == 0, conf.stdout[-4000:] + conf.stderr[-2000:]
        mode = lab.host_run(host, ["stat", "-c", "%a", APP_PATH]).stdout.strip()
        oauth_vault = yaml.safe_load(vault_vars.read_text())["mailops_smtp_vault_oauth"]
        # What the inventory now says: the app on XOAUTH2, with the fleet's oauth2 credential.
        says_oauth2 = {"smtp_configure_apps": [_app(smtp={"mechanism": "xoauth2"})],
                       "smtp_validate_vault": dict(oauth_vault, type="oauth2")}
        inventory = scratch / "says-oauth2.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {host: says_oauth2}}}))
        as_root = validate(scratch / "as-root", "--limit", host, inventories=[inventory],
                           extra_vars={"smtp_validate_auth_hosts": "none"})
        reader = scratch / "as-reader.yml"
        reader.write_text(yaml.safe_dump({"all": {"hosts": {host: dict(
            says_oauth2, ansible_python_interpreter=UNPRIVILEGED)}}}))
        # nobody cannot read the lab's CA under .lab (0700): a copy on the host, for the probe.
        lab.host_run(host, ["install", "-m", "0644", lab.ca, APP_DIR + "/ca.pem"])
        as_reader = validate(scratch / "as-reader", "--limit", host, inventories=[inventory, reader],
                             extra_vars={"smtp_validate_auth_hosts": "none", "smtp_validate_become": False,
                                         "smtp_validate_ca_path": APP_DIR + "/ca.pem"})
    finally:
        lab.host_run(host, ["rm", "-rf", APP_DIR], check=False)
    return {"host": host, "mode": mode, "as_root": as_root, "as_reader": as_reader}


def _host(run, name):
    return next(h for h in run.report["hosts"] if h["host"] == name)


def test_an_msmtp_app_left_on_a_password_is_not_ready_whatever_the_inventory_says(observed_runs):
    run, name = observed_runs["as_root"], observed_runs["host"]
    assert observed_runs["mode"] == "600"
    # The connectivity check passes: readiness is reported, not counted.
    assert run.rc == 0, run.explain()
    ready = _host(run, name)["readiness"]
    assert ready["ready"] is False and ready["status"] == "blocked", ready
    assert [r["code"] for r in ready["reasons"]] == ["app_holds_password"], ready["reasons"]
    app, = ready["apps"]
    assert app["observed"] == {"method": "basic", "relay_upstream": None, "source": "marker",
                               "holds_password": True}, app
    assert app["oauth"] is False
    # The path follows the files, not the inventory's xoauth2.
    assert (app["path"], app["survives_retirement"]) == ("direct_basic", False), app
    assert [f["code"] for f in run.report["readiness_findings"]] == ["app_holds_password"]
    md = (run.report_dir / "report.md").read_text()
    assert f"| {name} | msmtp | basic (marker), password in file | direct basic | yes | no |" in md


def test_a_file_the_connection_user_cannot_read_is_unknown_and_not_ready(observed_runs):
    run, name = observed_runs["as_reader"], observed_runs["host"]
    assert (run.report_dir / "report.json").exists(), run.explain()
    # The host was reached and checked (as nobody): only its file could not be read.
    assert _host(run, name)["status"] == "ok", run.explain()
    ready = _host(run, name)["readiness"]
    app, = ready["apps"]
    assert app["observed"] == {"method": "unknown", "relay_upstream": None, "source": "unreadable",
                               "holds_password": None}, json.dumps(app)
    assert ready["ready"] is False
    assert "app_not_observed" in [r["code"] for r in ready["reasons"]], ready["reasons"]
    assert app["path"] == "direct_unknown" and app["survives_retirement"] is None
