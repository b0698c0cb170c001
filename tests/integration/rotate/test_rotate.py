# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.rotate on five lab hosts: real Postfix and msmtp, OpenBao, the Microsoft 365 stand-in.

The tests share one module-scoped set-up (five hosts on v1) and run in file order: a refused
new credential, a full rotation to v2 (then v1 revoked), a second run, a rollout that stops part
way to v3, and the drift report after it. Every run is checked for leaks of any credential.
"""

from __future__ import annotations

import uuid

import pytest

from .conftest import MOUNT


@pytest.fixture(scope="module")
def v2(rotation):
    return f"Rot2-{uuid.uuid4().hex[:12]}#;%=:"


@pytest.fixture(scope="module")
def v3(rotation):
    return f"Rot3-{uuid.uuid4().hex[:12]}#;%=:"


def test_kv_v1_is_refused_before_anything_happens(rotation):
    vault = rotation.base_vars()["mailops_smtp_vault"]
    run = rotation.run(mailops_smtp_vault=dict(vault, kv_version=1))
    assert run.rc != 0
    assert "Rotation needs KV v2" in run.output
    assert rotation.vault_version() == 1


def test_bad_client_secret_stops_at_the_canary(rotation):
    """oauth2: the canary asks the token endpoint first; a refused secret stores nothing."""
    app, path = rotation.standins.app, f"smtp/rotate-app-{uuid.uuid4().hex[:10]}"
    client = rotation.vault()
    client.secrets.kv.v2.create_or_update_secret(path=path, mount_point=MOUNT, secret={
        "username": rotation.standins.mailbox, "tenant_id": app.tenant_id, "client_id": app.client_id,
        "client_secret": app.secret})
    rotation.secrets.append(app.secret)
    try:
        before = rotation.checksums()
        vault = dict(rotation.base_vars()["mailops_smtp_vault"], path=path, oauth_ca_path=rotation.lab.ca,
                     oauth_authority="https://login.microsoftonline.com")
        bad = f"Wrong~{uuid.uuid4().hex[:16]}"
        run = rotation.run(mailops_smtp_vault=vault, smtp_rotate_new_credential_file=rotation.new_credential_file(bad))
        assert run.rc != 0
        assert "AADSTS7000215" in run.output, run.output[-3000:]
        assert "Nothing was stored in Vault and no file was written" in run.output
        meta = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=MOUNT)
        assert int(meta["data"]["current_version"]) == 1
        assert rotation.checksums() == before
    finally:
        client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=MOUNT)


def test_bad_new_credential_stops_at_the_canary(rotation):
    before = rotation.checksums()
    bad = f"Wrong-{uuid.uuid4().hex[:12]}"       # the stand-in does not know it
    run = rotation.run("-vvvv", smtp_rotate_new_credential_file=rotation.new_credential_file(bad))
    assert run.rc != 0
    assert "Canary failed" in run.output and "auth_failed" in run.output, run.output[-3000:]
    assert "Nothing was stored in Vault and no file was written" in run.output
    assert rotation.vault_version() == 1
    assert rotation.checksums() == before
    assert rotation.lock()[0]["state"] == "released"     # the refused canary freed the fleet lock
    # Every host still delivers with v1, through its own applications.
    rotation.delivered(rotation.send_everywhere("after-bad"))


def test_rotation_to_v2(rotation, v2):
    ctl = rotation.standins.control
    ctl.add_password(rotation.standins.mailbox, v2)   # as Microsoft: old and new both valid until revoked
    seen = {m["queue_id"] for m in ctl.messages()}
    run = rotation.run("-vvvv", smtp_rotate_new_credential_file=rotation.new_credential_file(v2))
    assert run.rc == 0, run.output[-4000:]
    assert rotation.vault_version() == 2
    report = rotation.report()
    assert report["stored"] is True and report["target_version"] == "2" and not report["stopped"]
    assert {h["host"]: h["result"] for h in report["hosts"]} == {h: "rotated" for h in rotation.hosts}
    assert all(set(apps.values()) == {"2"} for apps in rotation.versions().values())
    assert report["drift"] == []
    lock = rotation.lock()[0]
    assert lock["state"] == "released" and lock["run_id"] == report["lock"]["run_id"]
    # Each host's checks went through its own applications, logged in as the mailbox.
    ips = {rotation.lab.host(h)["ip"]: h for h in rotation.hosts}
    peers = {ips.get((m.get("peer") or [None])[0]) for m in ctl.messages()
             if m["queue_id"] not in seen and m["auth_identity"] == rotation.standins.mailbox}
    assert peers >= set(rotation.hosts)

    # With v1 revoked only v2 logs in: every host delivering proves each authenticated with v2.
    ctl.revoke_password(rotation.standins.mailbox, rotation.v1)
    found = rotation.delivered(rotation.send_everywhere("v1-revoked"))
    for subject, msg in found.items():
        host = next(h for h in rotation.hosts if f" {h} " in subject)
        assert msg["peer"][0] == rotation.lab.host(host)["ip"]
        assert msg["auth_identity"] == rotation.standins.mailbox


def test_second_run_changes_nothing(rotation, v2):
    before = rotation.checksums()
    run = rotation.run(smtp_rotate_new_credential_file=rotation.new_credential_file(v2))
    assert run.rc == 0, run.output[-4000:]
    assert rotation.vault_version() == 2
    assert rotation.checksums() == before
    # Only the report on the controller is written again (and the fleet lock in Vault taken, renewed, released).
    assert all("rotation" in t or "Fleet lock: " in t for t in run.changed_tasks()), run.changed_tasks()
    report = rotation.report()
    assert report["stored"] is False
    assert {h["result"] for h in report["hosts"]} == {"unchanged"}


def test_failure_mid_rollout_stops_at_the_threshold(rotation, v3, knobs):
    hosts = rotation.hosts
    rotation.standins.control.add_password(rotation.standins.mailbox, v3)
    knobs.readonly(hosts[2], "/etc/postfix")
    lock_version = rotation.lock()[1]
    run = rotation.run(smtp_rotate_new_credential_file=rotation.new_credential_file(v3), smtp_rotate_serial=1)
    assert run.rc != 0
    assert "the rollout stopped" in run.output
    # Taken, renewed after each of the two batches that finished, released at the stop.
    lock, version = rotation.lock()
    assert lock["state"] == "released" and version - lock_version == 4, (lock, version - lock_version)
    assert rotation.vault_version() == 3
    report = rotation.report()
    assert report["stopped"] is True
    results = {h["host"]: h["result"] for h in report["hosts"]}
    assert results == {hosts[0]: "rotated", hosts[1]: "rotated", hosts[2]: "failed",
                       hosts[3]: "not_reached", hosts[4]: "not_reached"}
    versions = rotation.versions()
    for h in hosts[:2]:
        assert set(versions[h].values()) == {"3"}
    for h in hosts[2:]:
        assert set(versions[h].values()) == {"2"}
    assert "Read-only file system" in next(h["reason"] for h in report["hosts"] if h["host"] == hosts[2])
    md = (rotation.scratch / "report" / "rotation.md").read_text()
    assert "STOPPED" in md and f"- {hosts[2]}:" in md


def test_drift_report_lists_exactly_the_hosts_on_the_old_version(rotation):
    before = rotation.checksums()
    for extra, role_vars in (((), {"smtp_rotate_mode": "report"}), (("--check",), {})):
        run = rotation.run(*extra, **role_vars)
        assert run.rc == 0, run.output[-4000:]
        report = rotation.report()
        assert report["mode"] == "report"
        assert sorted({d["host"] for d in report["drift"]}) == rotation.hosts[2:]
        assert {d["version"] for d in report["drift"]} == {"2"}
        assert rotation.checksums() == before
        assert rotation.vault_version() == 3


def test_a_leftover_sasl_map_on_an_old_version_is_in_the_report(rotation):
    """hosts[3], left on v2 (Vault at v3), now listed with Postfix in connector mode: its sasl_passwd is used
    by no app and still holds v2's password. The drift report names it; report mode removes nothing."""
    host = rotation.hosts[3]
    before = rotation.checksums()
    apps = rotation.base_vars()["rotate_test_apps"]
    apps[host] = [{"preset": "postfix", "options": {"mode": "connector", "tenant": rotation.lab.state["tenant_domain"]}},
                  *apps[host][1:]]
    run = rotation.run(smtp_rotate_mode="report", smtp_rotate_hosts=host, rotate_test_apps=apps)
    assert run.rc == 0, run.output[-4000:]
    leftovers = {(f["host"], f["path"], f["credential"], f["version"], f["old"])
                 for f in rotation.report()["leftover_secrets"]}
    source = f"{MOUNT}/{rotation.path}"
    assert leftovers == {(host, "/etc/postfix/sasl_passwd", source, "2", True),
                         (host, "/etc/postfix/sasl_passwd.db", source, "2", True)}
    md = (rotation.scratch / "report" / "rotation.md").read_text()
    assert f"{host}: /etc/postfix/sasl_passwd ({source} version 2, an old version)" in md, md
    assert rotation.checksums() == before


def test_rollback_pins_the_previous_version(rotation):
    """The stopped rotation to v3 is rolled back by pinning v2: the same flow, nothing stored."""
    run = rotation.run(smtp_rotate_version=2)
    assert run.rc == 0, run.output[-4000:]
    assert rotation.vault_version() == 3
    report = rotation.report()
    assert report["target_version"] == "2" and report["stored"] is False
    hosts = rotation.hosts
    assert {h["host"]: h["result"] for h in report["hosts"]} == {
        hosts[0]: "rotated", hosts[1]: "rotated", hosts[2]: "unchanged", hosts[3]: "unchanged",
        hosts[4]: "unchanged"}
    assert all(set(apps.values()) == {"2"} for apps in rotation.versions().values())
    rotation.delivered(rotation.send_everywhere("rolled-back"))
