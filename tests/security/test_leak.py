# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secret-leak suite (issue 9, section 1): marker secrets go through configure and validate at
full verbosity, and turn up nowhere but in the config files meant to hold them.

One set of runs per suite (a module fixture), each with -vvvv, --diff, ANSIBLE_LOG_PATH, the
jsonfile fact cache and a callback that dumps every result:
  A. configure host1: Postfix + msmtp, basic credential read from OpenBao;
  B. configure host2: msmtp with XOAUTH2, app credential read from OpenBao, access token fetched;
  C. validate every host with AUTH, an oauth2 credential holding a marker access token;
  D. validate every host with AUTH, the basic credential read from OpenBao;
  E. rotate host1 to a new marker password, given in a 0600 file: canary, KV v2 store, rollout,
     the checks through sendmail and msmtp, and the rotation report.
The markers are put into OpenBao and the stand-ins, so the runs really use them. The Vault token
is a fresh child token in a 0600 file passed only as auth.token_file; no run has VAULT_TOKEN.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.lab import core as lab_core

from . import _leak

CALLBACKS = Path(__file__).parent / "callback_plugins"
BASIC_HOST, OAUTH_HOST = "host1", "host2"
# What configure may write on a host; snapshotted before and put back after the suite.
TOUCHED = ["/etc/postfix", "/etc/msmtprc", "/etc/mailops-smtp", "/var/lib/mailops-smtp",
           "/usr/local/lib/mailops-smtp", "/etc/cron.d"]
ROOT_0600 = {"mode": "0600", "uid": 0, "gid": 0}


def _vault_client(lab):
    import hvac
    token = Path(lab.state["vault"]["token_file"]).read_text().strip()
    return hvac.Client(url=lab.state["vault"]["http"], token=token, timeout=10)


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _entra_token(standins, client_id: str, secret: str) -> str:
    from tests.integration.standins.standins_client import token_request
    status, body = token_request(standins, standins.app.tenant_id, {
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        "scope": "https://outlook.office365.com/.default"})
    assert status == 200, body
    return body["access_token"]


class Runner:
    """ansible-playbook with every place a secret could leak to switched on, under scratch."""

    def __init__(self, lab, scratch: Path):
        self.lab, self.scratch = lab, scratch
        self.inputs = scratch / "inputs"  # what the test gives ansible: excluded from the scan
        self.out = scratch / "out"
        for d in (self.inputs, self.out, self.out / "home", self.out / "local_tmp", self.out / "facts"):
            d.mkdir(parents=True, exist_ok=True)
        self.log = self.out / "ansible.log"
        self.dump = self.out / "results.jsonl"
        self.runs = []

    def env(self) -> dict:
        env = {k: v for k, v in self.lab.env.items() if not k.startswith(("VAULT_TOKEN", "BAO_TOKEN"))}
        env.update(
            HOME=str(self.out / "home"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_LOG_PATH=str(self.log), ANSIBLE_LOCAL_TEMP=str(self.out / "local_tmp"),
            ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=str(self.out / "facts"),
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), ANSIBLE_CALLBACKS_ENABLED="result_dump",
            MAILOPS_RESULT_DUMP=str(self.dump))
        return env

    def run(self, name: str, playbook: str, limit: str, role_vars: dict, sampler, inventories=()):
        """inventories: more inventory sources (variables an extra var would outrank, such as migrate's apps)."""
        import subprocess
        import sys
        vars_file = _write_private(self.inputs / f"{name}.json", json.dumps(role_vars))
        extra_inventories = [a for i in inventories for a in ("-i", str(i))]
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.lab.inventory),
                *extra_inventories, playbook, "-l", limit, "-e", f"@{vars_file}", "-vvvv", "--diff"]
        hosts = [h["name"] for h in self.lab.hosts]
        host_samplers = [_leak.HostSampler(self.lab, h) for h in hosts]
        for s in host_samplers:
            s.wait_started()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, env=self.env(), cwd=str(self.lab.dir),
                               timeout=600, check=False)
        finally:
            sampled = {h: s.stop() for h, s in zip(hosts, host_samplers)}
        (self.out / f"{name}.stdout").write_text(p.stdout)
        (self.out / f"{name}.stderr").write_text(p.stderr)
        # Kept outside out/ (which is scanned): a leak found here would otherwise count twice.
        (self.scratch / "samples").mkdir(exist_ok=True)
        (self.scratch / "samples" / f"{name}.json").write_text(json.dumps(sampled))
        self.runs.append({"name": name, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr,
                          "hosts_sampled": sampled})
        return self.runs[-1]


@pytest.fixture(scope="module")
def leak(lab, standins, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("leak")
    runner = Runner(lab, scratch)
    client = _vault_client(lab)
    suffix = _leak.new_marker("")[2:10].lower()
    basic_path, app_path = f"smtp/sec-basic-{suffix}", f"smtp/sec-app-{suffix}"
    client_id = f"sec-{suffix}-client"
    markers = {"password": _leak.new_marker("Pw"), "client_secret": _leak.new_marker("Cs"),
               "rotated_password": _leak.new_marker("Rp")}

    # The marker password opens the stand-in mailbox; the marker secret belongs to a new app.
    standins.control.add_password(standins.mailbox, markers["password"])
    standins.control.add_password(standins.mailbox, markers["rotated_password"])
    standins.control.set_app(client_id, tenant=standins.app.tenant_id, secrets=[markers["client_secret"]],
                             mailboxes=[standins.mailbox])
    markers["access_token"] = _entra_token(standins, client_id, markers["client_secret"])
    tokens_before = {t["token"] for t in standins.control.issued_tokens(client_id=client_id)}
    client.secrets.kv.v2.create_or_update_secret(path=basic_path, mount_point="secret", secret={
        "username": standins.mailbox, "password": markers["password"]})
    client.secrets.kv.v2.create_or_update_secret(path=app_path, mount_point="secret", secret={
        "username": standins.mailbox, "tenant_id": standins.app.tenant_id, "client_id": client_id,
        "client_secret": markers["client_secret"]})
    vault_token = client.auth.token.create(ttl="30m", renewable=False, meta={"purpose": "mailops-sec"})
    markers["vault_token"] = vault_token["auth"]["client_token"]
    token_file = _write_private(runner.inputs / "vault-token", markers["vault_token"] + "\n")
    new_secret_file = _write_private(runner.inputs / "new-password", markers["rotated_password"] + "\n")

    snaps = {h: _leak.snapshot(lab, h, TOUCHED) for h in (BASIC_HOST, OAUTH_HOST)}
    etc_before = {h: set(lab.host_run(h, ["ls", "-A", "/etc"]).stdout.split()) for h in (BASIC_HOST, OAUTH_HOST)}
    payloads_before = set(Path("/tmp").glob("ansible_*_payload_*"))
    vault = {"url": lab.state["vault"]["https"], "ca_path": lab.ca, "mount": "secret",
             "auth": {"method": "token", "token_file": str(token_file)}}
    report_dir = runner.out / "report"
    controller = _leak.ControllerSampler().start()
    t0, since = time.monotonic(), time.time() - 2
    try:
        runner.run("configure-basic", "mailops.smtp.configure", BASIC_HOST, {
            "smtp_configure_ca_path": lab.ca, "smtp_configure_install_packages": False,
            "smtp_configure_vault": dict(vault, path=basic_path),
            "smtp_configure_apps": [{"preset": "postfix", "backup": True}, {"preset": "msmtp", "backup": True}],
        }, controller)
        runner.run("configure-oauth", "mailops.smtp.configure", OAUTH_HOST, {
            "smtp_configure_ca_path": lab.ca, "smtp_configure_install_packages": False,
            "smtp_configure_vault": dict(vault, path=app_path, fetch_access_token=True, oauth_ca_path=lab.ca,
                                         oauth_authority="https://login.microsoftonline.com"),
            "smtp_configure_apps": [{"preset": "msmtp", "backup": True}],
        }, controller)
        runner.run("validate-oauth", "mailops.smtp.validate", "all", {
            "smtp_validate_ca_path": lab.ca, "smtp_validate_auth_hosts": "all",
            "smtp_validate_report_dir": str(report_dir / "oauth"),
            "smtp_validate_credential": {"type": "oauth2", "username": standins.mailbox,
                                         "tenant_id": standins.app.tenant_id, "client_id": client_id,
                                         "client_secret": markers["client_secret"],
                                         "access_token": markers["access_token"]},
        }, controller)
        runner.run("validate-basic", "mailops.smtp.validate", "all", {
            "smtp_validate_ca_path": lab.ca, "smtp_validate_auth_hosts": "all",
            "smtp_validate_report_dir": str(report_dir / "basic"),
            "smtp_validate_vault": dict(vault, path=basic_path),
        }, controller)
        runner.run("rotate", "mailops.smtp.rotate", BASIC_HOST, {
            "mailops_smtp_ca_path": lab.ca, "smtp_configure_install_packages": False,
            "mailops_smtp_vault": dict(vault, path=basic_path),
            "smtp_rotate_new_credential_file": str(new_secret_file),
            "smtp_rotate_report_dir": str(report_dir / "rotation"),
            # Backups of the old files would keep the old password on the host.
            "smtp_configure_apps": [{"preset": "postfix"}, {"preset": "msmtp"}],
        }, controller)
    finally:
        controller.stop()
    elapsed = time.monotonic() - t0
    # The token the refresher fetched on host2 is a secret too: it belongs in its token file only.
    tok = lab.host_run(OAUTH_HOST, ["cat", "/var/lib/mailops-smtp/mailops.token"], check=False).stdout.strip()
    if tok:
        markers["refresher_token"] = tok
    # Every other token Entra issued to the app during the runs (minted on hosts or on the
    # controller) is a secret too, and must not turn up anywhere either.
    minted = [t["token"] for t in standins.control.issued_tokens(client_id=client_id)
              if t["token"] not in tokens_before and t["token"] not in markers.values()]
    for n, token in enumerate(minted):
        markers[f"minted_token_{n}"] = token
    files = {h: _leak.host_grep(lab, h, list(markers.values()), since) for h in (h["name"] for h in lab.hosts)}
    tmp_dir = lab_core.remote_tmp(lab.state["prefix"])
    remote_tmp = {h["name"]: lab.host_run(h["name"], ["find", tmp_dir, "-mindepth", "1"],
                                          check=False).stdout.split() for h in lab.hosts}
    payload_hits = []
    for d in set(Path("/tmp").glob("ansible_*_payload_*")) - payloads_before:
        payload_hits += _leak.scan_tree(d, markers)
    data = {"markers": markers, "runner": runner, "controller": controller, "files": files,
            "remote_tmp": remote_tmp, "payload_hits": payload_hits, "elapsed": elapsed,
            "client_secret_app": client_id, "report_dir": report_dir}
    try:
        yield data
    finally:
        for h, archive in snaps.items():
            new = set(lab.host_run(h, ["ls", "-A", "/etc"]).stdout.split()) - etc_before[h]
            backups = " ".join(f"/etc/{n}" for n in sorted(new) if n.startswith("msmtprc"))
            _leak.restore(lab, h, archive, TOUCHED, extra_rm=f"rm -f {backups};" if backups else "")
        lab.host_run(BASIC_HOST, ["sh", "-c", "postfix reload >/dev/null 2>&1 || true"], check=False)
        standins.control.revoke_password(standins.mailbox, markers["password"])
        standins.control.revoke_password(standins.mailbox, markers["rotated_password"])
        standins.control.remove_app(client_id)
        client.auth.token.revoke(markers["vault_token"])
        for path in (basic_path, app_path):
            client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")


def test_the_scan_looks_for_every_token_minted_during_the_runs(leak, standins):
    issued = {t["token"] for t in standins.control.issued_tokens(client_id=leak["client_secret_app"])}
    # Entra's tokens are JWTs of real size (1.5 to 3 KB), so the masking is tested at that size.
    assert all(1500 <= len(t) <= 3000 for t in issued)
    scanned = set(leak["markers"].values())
    assert "refresher_token" in leak["markers"] and issued <= scanned


def test_every_run_succeeded_and_used_the_markers(leak, standins):
    for run in leak["runner"].runs:
        assert run["rc"] == 0, f"{run['name']} failed:\n{run['stdout'][-4000:]}\n{run['stderr'][-2000:]}"
    # The markers went where they belong: so the zero-hit checks below are not vacuous.
    f = leak["files"]
    m = list(leak["markers"])
    # host1 ends on the rotated password, and no longer holds the first one anywhere.
    for path in ("/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db", "/etc/msmtprc"):
        assert f[BASIC_HOST][path]["markers"] == [m.index("rotated_password")], path
    rotation = json.loads((leak["report_dir"] / "rotation" / "rotation.json").read_text())
    assert rotation["stored"] and [h["result"] for h in rotation["hosts"]] == ["rotated"], rotation
    assert m.index("client_secret") in f[OAUTH_HOST]["/etc/mailops-smtp/mailops.oauth.json"]["markers"]
    assert "refresher_token" in leak["markers"]
    report = json.loads((leak["report_dir"] / "oauth" / "report.json").read_text())
    auths = [r["auth"] for r in report["records"] if r.get("auth")]
    assert len(auths) >= 4 and all(a["ok"] for a in auths), auths  # the marker access token logged in
    print(f"leak suite: 5 runs at -vvvv in {leak['elapsed']:.1f}s")


def test_no_marker_in_output_log_results_facts_reports_or_controller_tmp(leak):
    runner, markers = leak["runner"], leak["markers"]
    hits = []
    for run in runner.runs:
        hits += _leak.scan_text(f"{run['name']} stdout", run["stdout"], markers)
        hits += _leak.scan_text(f"{run['name']} stderr", run["stderr"], markers)
    hits += _leak.scan_tree(runner.out, markers)  # log, result dump, fact cache, reports, HOME, local tmp
    assert runner.log.stat().st_size > 0 and runner.dump.stat().st_size > 0
    assert (leak["report_dir"] / "basic" / "report.json").exists()
    assert hits == []


def test_only_the_intended_files_hold_a_secret_with_mode_0600_root(leak):
    m = list(leak["markers"])
    intended = {
        BASIC_HOST: {"/etc/postfix/sasl_passwd": {"rotated_password"},
                     "/etc/postfix/sasl_passwd.db": {"rotated_password"}, "/etc/msmtprc": {"rotated_password"}},
        OAUTH_HOST: {"/etc/mailops-smtp/mailops.oauth.json": {"client_secret"},
                     "/var/lib/mailops-smtp/mailops.token": {"refresher_token"}},
    }
    bad = []
    for host, found in leak["files"].items():
        allowed = intended.get(host, {})
        for path, info in found.items():
            kinds = {m[i] for i in info["markers"]}
            if path not in allowed or not kinds <= allowed[path]:
                bad.append(f"{host}:{path} holds {sorted(kinds)}")
            elif {k: info[k] for k in ROOT_0600} != ROOT_0600:
                bad.append(f"{host}:{path} is {info['mode']} {info['uid']}:{info['gid']}, not 0600 root:root")
    assert bad == []
    assert set(leak["files"][BASIC_HOST]) == set(intended[BASIC_HOST])


def test_no_marker_left_in_remote_tmp_or_module_payloads(leak):
    assert leak["remote_tmp"] == {h: [] for h in leak["remote_tmp"]}, "ansible left files in remote_tmp"
    assert leak["payload_hits"] == []


def test_no_marker_in_any_process_command_line_or_environment(leak):
    markers = leak["markers"]
    controller = leak["controller"]
    hits = _leak.scan_processes("the controller", controller.records, markers)
    # The samplers saw the run: ansible-playbook, its ssh clients, and the modules on each host.
    cmdlines = [r["cmdline"] for r in controller.records]
    assert any("ansible-playbook" in c for c in cmdlines) and any(c.startswith("ssh") for c in cmdlines)
    for run in leak["runner"].runs:
        for host, (records, rounds) in run["hosts_sampled"].items():
            hits += _leak.scan_processes(f"{host} during {run['name']}", records, markers)
            assert rounds > 0
        # With pipelining a module runs as `/bin/sh -c /usr/bin/python3` reading its arguments on stdin.
        sampled = [h for h, (records, _rounds) in run["hosts_sampled"].items()
                   if any("python3" in r["cmdline"] for r in records)]
        assert sampled, f"no module process was sampled on any host during {run['name']}"
    assert hits == []
