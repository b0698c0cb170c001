# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a rotation run was asked for, what its report says, and when it says it (issue 16, items 5, 8, 4).

Five lab hosts on v1 (the shared set-up of conftest.py), then, in file order: a run given nothing is
refused and re-rolls nothing; `latest` re-rolls on purpose; a drift report is rewritten only when its
findings change; a host configured from another Vault path with the same version number is drift.
"""

from __future__ import annotations

import uuid

from .conftest import MOUNT

NOTHING = "No new credential was given and no re-roll was asked for"


def _new_messages(rotation, seen: set) -> list:
    return [m for m in rotation.standins.control.messages() if m["queue_id"] not in seen]


# ---- item 5: no silent re-roll ------------------------------------------------------------------

def test_a_run_given_no_new_secret_is_refused_and_rerolls_nothing(rotation):
    """Non-interactive, no file, no survey answer, no version: before, v1 was re-rolled silently."""
    before = rotation.checksums()
    seen = {m["queue_id"] for m in rotation.standins.control.messages()}
    for extra in ({}, {"smtp_rotate_new_credential": ""}, {"smtp_rotate_version": ""}):
        run = rotation.run(**extra)
        assert run.rc != 0, run.output[-3000:]
        assert NOTHING in run.output and "smtp_rotate_version=latest" in run.output, run.output[-3000:]
        assert "Canary" not in run.output
    assert rotation.vault_version() == 1
    assert rotation.checksums() == before
    # No check message went out: the run stopped before the canary and any rollout.
    assert _new_messages(rotation, seen) == []


def test_a_version_that_is_neither_latest_nor_a_number_is_refused(rotation):
    run = rotation.run(smtp_rotate_version="previous")
    assert run.rc != 0
    assert "smtp_rotate_version must be latest or a version number" in run.output, run.output[-3000:]


def test_latest_typed_as_the_new_credential_rerolls_on_purpose(rotation):
    """`latest` at the prompt (here the survey field the prompt fills) re-rolls Vault's latest version."""
    host = rotation.hosts[0]
    run = rotation.run(smtp_rotate_new_credential="latest", smtp_rotate_hosts=host)
    assert run.rc == 0, run.output[-4000:]
    report = rotation.report()
    assert report["stored"] is False and report["new_credential"] is False
    assert report["target_version"] == "1"
    assert {h["host"]: h["result"] for h in report["hosts"]} == {host: "unchanged"}
    assert rotation.vault_version() == 1


def test_report_mode_and_check_need_no_secret(rotation):
    for extra, role_vars in (((), {"smtp_rotate_mode": "report"}), (("--check",), {})):
        run = rotation.run(*extra, **role_vars)
        assert run.rc == 0, run.output[-4000:]
        assert rotation.report()["mode"] == "report"


# ---- item 8: the drift report changes only when its findings do --------------------------------------

def test_report_mode_is_changed_only_when_the_report_content_changed(rotation):
    json_file = rotation.scratch / "report" / "rotation.json"
    first = rotation.run(smtp_rotate_mode="report")
    assert first.rc == 0, first.output[-4000:]
    written = json_file.read_text()
    again = rotation.run(smtp_rotate_mode="report")
    assert again.rc == 0, again.output[-4000:]
    assert again.changed_tasks() == [], again.changed_tasks()
    assert "changed=0" in again.stdout and "changed=1" not in again.stdout
    assert json_file.read_text() == written          # same findings: not rewritten, generated_at kept
    # Other findings (here: fewer hosts) are written, and shown as a change.
    fewer = rotation.run(smtp_rotate_mode="report", smtp_rotate_hosts=",".join(rotation.hosts[:2]))
    assert fewer.rc == 0, fewer.output[-4000:]
    assert any("rotation.json" in t for t in fewer.changed_tasks()), fewer.changed_tasks()
    assert [h["host"] for h in rotation.report()["hosts"]] == rotation.hosts[:2]


# ---- item 4: drift is the Vault path and the version -------------------------------------------------

def test_a_host_on_another_path_with_the_same_version_is_drift(rotation):
    """hosts[0] configured from another path's v1, the fleet's path also at v1: not in sync."""
    host, other = rotation.hosts[0], f"smtp/rotate-other-{uuid.uuid4().hex[:10]}"
    client = rotation.vault()
    client.secrets.kv.v2.create_or_update_secret(path=other, mount_point=MOUNT, secret={
        "username": rotation.standins.mailbox, "password": rotation.v1})
    vault = rotation.base_vars()["mailops_smtp_vault"]
    try:
        moved = rotation.run(smtp_rotate_version="latest", smtp_rotate_hosts=host,
                             mailops_smtp_vault=dict(vault, path=other))
        assert moved.rc == 0, moved.output[-4000:]
        assert rotation.vault_version() == 1
        run = rotation.run(smtp_rotate_mode="report")
        assert run.rc == 0, run.output[-4000:]
        report = rotation.report()
        results = {h["host"]: h["result"] for h in report["hosts"]}
        assert results == {h: ("drift" if h == host else "in_sync") for h in rotation.hosts}
        assert {(d["host"], d["credential"], d["version"]) for d in report["drift"]} == {
            (host, f"{MOUNT}/{other}", "1")}
        md = (rotation.scratch / "report" / "rotation.md").read_text()
        assert f"{MOUNT}/{other}" in md and host in md.splitlines()[-1]
        # Rolling the fleet's credential out again moves that host back: it is rotated, not unchanged.
        back = rotation.run(smtp_rotate_version="latest", smtp_rotate_hosts=host)
        assert back.rc == 0, back.output[-4000:]
        assert {h["host"]: h["result"] for h in rotation.report()["hosts"]} == {host: "rotated"}
        final = rotation.run(smtp_rotate_mode="report")
        assert final.rc == 0 and rotation.report()["drift"] == [], final.output[-4000:]
    finally:
        client.secrets.kv.v2.delete_metadata_and_all_versions(path=other, mount_point=MOUNT)


# ---- item 7: tags ---------------------------------------------------------------------------------

def test_unsafe_tag_selections_are_refused_before_anything_runs(rotation):
    """Before, --tags store stored nothing and said nothing, and --skip-tags canary stored without the canary."""
    before, version = rotation.checksums(), rotation.vault_version()
    cred = rotation.new_credential_file(f"tags-{uuid.uuid4().hex}")
    for extra, expected in ((("--tags", "store"), "without the canary login"),
                            (("--skip-tags", "canary"), "without the canary login"),
                            (("--tags", "canary,rollout"), "without storing it in Vault"),
                            (("--skip-tags", "always"), "skips pin, lock, report")):
        run = rotation.run(*extra, smtp_rotate_new_credential_file=cred)
        assert run.rc != 0, (extra, run.output[-3000:])
        assert expected in run.output and "Nothing was done" in run.output, (extra, run.output[-3000:])
        assert "TASK [" not in run.output, (extra, run.output[-3000:])
    assert rotation.vault_version() == version
    assert rotation.checksums() == before
    record = rotation.lock()[0]
    assert record is None or record.get("state") != "held", record


def test_canary_and_store_tags_store_without_touching_a_host(rotation):
    """--tags canary,store proves the new secret and stores it; no host changes, and the report says what is left."""
    before, version = rotation.checksums(), rotation.vault_version()
    secret = f"tags-stored-{uuid.uuid4().hex}"
    rotation.standins.control.set_mailbox(rotation.standins.mailbox, passwords=[rotation.v1, secret])
    run = rotation.run("--tags", "canary,store", smtp_rotate_new_credential_file=rotation.new_credential_file(secret))
    assert "Canary failed" not in run.output, run.output[-3000:]
    assert rotation.vault_version() == version + 1
    assert rotation.checksums() == before
    report = rotation.report()
    assert report["stored"] is True and report["target_version"] == str(version + 1)
    assert f'"smtp_rotate_version": "{version + 1}"' in (report["finish_command"] or ""), report
