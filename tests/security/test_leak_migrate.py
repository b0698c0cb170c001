# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secret-leak suite for mailops.smtp.migrate (issue 21): marker secrets through a whole migration at -vvvv.

Two runs on one host, with every place a secret could leak to switched on (test_leak.Runner: -vvvv, --diff,
ANSIBLE_LOG_PATH, the jsonfile fact cache, a callback that dumps every result, process samplers):
  A. configure host1: Postfix and msmtp on basic auth, the marker password read from OpenBao;
  B. migrate host1 to the marker oauth2 credential: the before report, the fleet locks, the credential's
     proof, the plan, the move (the saved copy of the old files, the relay taking Postfix over, msmtp on
     XOAUTH2, the proof messages), the after report and migration.json/md.
The markers (the password, the client secret, the Vault token, every token Entra issued to the app) turn up
nowhere but in the files meant to hold them: no output, log, result, fact, report, process or leftover file,
and not in the saved copy of the old files, which is gone.
"""

from __future__ import annotations

import json
import time

import pytest

from . import _leak
from .test_leak import TOUCHED, Runner, _vault_client, _write_private

HOST = "host1"
ROOT_0600 = {"mode": "0600", "uid": 0, "gid": 0}
# Where the move keeps the old files while the host moves; nothing of it may be left.
STATE_DIR = "/var/lib/mailops-smtp/migrate"
APPS = [{"preset": "postfix"}, {"preset": "msmtp"}]


@pytest.fixture(scope="module")
def migration(lab, standins, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("leak-migrate")
    runner = Runner(lab, scratch)
    client = _vault_client(lab)
    suffix = _leak.new_marker("")[2:10].lower()
    basic_path, app_path = f"smtp/secm-basic-{suffix}", f"smtp/secm-app-{suffix}"
    client_id = f"secm-{suffix}-client"
    markers = {"password": _leak.new_marker("Pw"), "client_secret": _leak.new_marker("Cs")}
    standins.control.add_password(standins.mailbox, markers["password"])
    standins.control.set_app(client_id, tenant=standins.app.tenant_id, secrets=[markers["client_secret"]],
                             mailboxes=[standins.mailbox])
    client.secrets.kv.v2.create_or_update_secret(path=basic_path, mount_point="secret", secret={
        "username": standins.mailbox, "password": markers["password"]})
    client.secrets.kv.v2.create_or_update_secret(path=app_path, mount_point="secret", secret={
        "username": standins.mailbox, "tenant_id": standins.app.tenant_id, "client_id": client_id,
        "client_secret": markers["client_secret"]})
    vault_token = client.auth.token.create(ttl="30m", renewable=False, meta={"purpose": "mailops-sec-migrate"})
    markers["vault_token"] = vault_token["auth"]["client_token"]
    token_file = _write_private(runner.inputs / "vault-token", markers["vault_token"] + "\n")
    # The apps in the inventory, as an operator keeps them: migrate gives the configure role the new ones.
    apps_inventory = runner.inputs / "apps.yml"
    apps_inventory.write_text(json.dumps({"all": {"hosts": {HOST: {"smtp_configure_apps": APPS}}}}))

    snap = _leak.snapshot(lab, HOST, TOUCHED)
    main_cf = {p: lab.host_run(HOST, ["cat", p]).stdout for p in ("/etc/postfix/main.cf", "/etc/postfix/master.cf")}
    vault = {"url": lab.state["vault"]["https"], "ca_path": lab.ca, "mount": "secret",
             "auth": {"method": "token", "token_file": str(token_file)}}
    report_dir = runner.out / "report"
    controller = _leak.ControllerSampler().start()
    t0, since = time.monotonic(), time.time() - 2
    try:
        runner.run("configure-basic", "mailops.smtp.configure", HOST, {
            "smtp_configure_ca_path": lab.ca, "smtp_configure_install_packages": False,
            "smtp_configure_vault": dict(vault, path=basic_path),
        }, controller, inventories=[apps_inventory])
        runner.run("migrate", "mailops.smtp.migrate", HOST, {
            "mailops_smtp_ca_path": lab.ca, "mailops_smtp_vault": dict(vault, path=basic_path),
            "smtp_migrate_hosts": HOST, "smtp_migrate_relay": "local",
            "smtp_migrate_vault": dict(vault, path=app_path, oauth_ca_path=lab.ca,
                                       oauth_authority="https://login.microsoftonline.com"),
            "smtp_migrate_report_dir": str(report_dir),
        }, controller, inventories=[apps_inventory])
    finally:
        controller.stop()
    elapsed = time.monotonic() - t0
    # The tokens the two refreshers fetched on the host are secrets too: in their token files only.
    for name, path in (("msmtp_token", "/var/lib/mailops-smtp/mailops.token"),
                       ("relay_token", "/var/lib/mailops-smtp/relay.token")):
        tok = lab.host_run(HOST, ["cat", path], check=False).stdout.strip()
        if tok:
            markers[name] = tok
    # Every token Entra issued to the app during the runs (on the host, or on the controller for the proof).
    for n, t in enumerate(t["token"] for t in standins.control.issued_tokens(client_id=client_id)):
        if t not in markers.values():
            markers[f"minted_token_{n}"] = t
    files = _leak.host_grep(lab, HOST, list(markers.values()), since)
    state_left = lab.host_run(HOST, ["find", STATE_DIR], check=False).stdout.split()
    data = {"markers": markers, "runner": runner, "controller": controller, "files": files, "elapsed": elapsed,
            "report_dir": report_dir, "state_left": state_left}
    try:
        yield data
    finally:
        _leak.restore(lab, HOST, snap, TOUCHED)
        for p, text in main_cf.items():
            lab.host_run(HOST, ["sh", "-c", f"cat > {p}"], input=text)
        lab.host_run(HOST, ["sh", "-c", "postsuper -d ALL >/dev/null 2>&1; postfix reload >/dev/null 2>&1 || true"],
                     check=False)
        standins.control.revoke_password(standins.mailbox, markers["password"])
        standins.control.remove_app(client_id)
        client.auth.token.revoke(markers["vault_token"])
        for path in (basic_path, app_path):
            for p in (path, path + ".lock"):
                try:
                    client.secrets.kv.v2.delete_metadata_and_all_versions(path=p, mount_point="secret")
                except Exception:  # noqa: BLE001 - best effort; the paths are unique to this run
                    pass


def test_both_runs_succeeded_and_the_host_moved_with_the_markers(migration):
    for run in migration["runner"].runs:
        assert run["rc"] == 0, f"{run['name']} failed:\n{run['stdout'][-4000:]}\n{run['stderr'][-2000:]}"
    report = json.loads((migration["report_dir"] / "migration.json").read_text())
    assert report["state"] == "done" and [h["status"] for h in report["hosts"]] == ["moved"], report
    # The marker credential is the one that moved the host (so the zero-hit checks below are not vacuous).
    m = list(migration["markers"])
    assert m.index("client_secret") in migration["files"]["/etc/mailops-smtp/mailops.oauth.json"]["markers"]
    assert "msmtp_token" in migration["markers"] and "relay_token" in migration["markers"]
    print(f"leak suite (migrate): 2 runs at -vvvv in {migration['elapsed']:.1f}s")


def test_no_marker_in_output_log_results_facts_reports_or_controller_tmp(migration):
    runner, markers = migration["runner"], migration["markers"]
    hits = []
    for run in runner.runs:
        hits += _leak.scan_text(f"{run['name']} stdout", run["stdout"], markers)
        hits += _leak.scan_text(f"{run['name']} stderr", run["stderr"], markers)
    hits += _leak.scan_tree(runner.out, markers)  # log, result dump, fact cache, reports, HOME, local tmp
    assert (migration["report_dir"] / "migration.md").exists() and runner.dump.stat().st_size > 0
    assert hits == []


def test_the_password_is_gone_from_the_host_and_the_new_secrets_are_where_they_belong(migration):
    m = list(migration["markers"])
    tokens = {k for k in m if k.endswith("_token") and k != "vault_token"}
    intended = {"/etc/mailops-smtp/mailops.oauth.json": {"client_secret"},
                "/etc/mailops-smtp/relay.oauth.json": {"client_secret"},
                "/var/lib/mailops-smtp/mailops.token": tokens,
                "/var/lib/mailops-smtp/relay.token": tokens}
    bad = []
    for path, info in migration["files"].items():
        kinds = {m[i] for i in info["markers"]}
        if path not in intended or not kinds <= intended[path]:
            bad.append(f"{path} holds {sorted(kinds)}")
        elif path.endswith(".oauth.json") and {k: info[k] for k in ROOT_0600} != ROOT_0600:
            bad.append(f"{path} is {info['mode']} {info['uid']}:{info['gid']}, not 0600 root:root")
        elif info["mode"] != "0600":
            bad.append(f"{path} is mode {info['mode']}, not 0600")
    # No file holds the basic password any more (the relay took Postfix over, msmtp logs in with XOAUTH2).
    assert bad == []
    assert not [p for p, info in migration["files"].items() if m.index("password") in info["markers"]]
    # The saved copy of the old files (which held the password) is deleted with the parents the move made.
    assert migration["state_left"] == []


def test_no_marker_in_any_process_command_line_or_environment(migration):
    markers = migration["markers"]
    hits = _leak.scan_processes("the controller", migration["controller"].records, markers)
    for run in migration["runner"].runs:
        for host, (records, rounds) in run["hosts_sampled"].items():
            hits += _leak.scan_processes(f"{host} during {run['name']}", records, markers)
            assert rounds > 0
    assert hits == []
