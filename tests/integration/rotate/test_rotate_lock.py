# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet lock in OpenBao (issue 16, item 3): who is refused, who goes ahead, and that every exit path
Ansible reaches leaves the lock free. Runs against the lab's real OpenBao, hosts and stand-ins.

A killed run is simulated by leaving its lock record, as it would be after a kill: held, not expired.
Most runs here stop early (refused at the lock, or at the canary), which keeps them short.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.lab.vault_audit import audit_entries

from .conftest import MOUNT, fresh_rotation


@pytest.fixture(scope="module")
def rotation(lab, standins, tmp_path_factory):
    """Five hosts and a Vault path of this run at v1, without the shared fixture's first rollout: no test
    here needs the hosts on v1 (they check that nothing changed, or configure one host themselves)."""
    with fresh_rotation(lab, standins, tmp_path_factory.mktemp("rotate-lock"), "rotate-lock") as rot:
        yield rot


def _bad(rotation) -> str:
    return rotation.new_credential_file(f"Wrong-{uuid.uuid4().hex[:12]}")   # the stand-in refuses it


def _assert_free(rotation, not_run_id: str | None = None) -> dict:
    record = rotation.lock()[0]
    assert record is not None and record["state"] == "released", record
    if not_run_id:
        assert record["run_id"] != not_run_id
    return record


def test_a_held_lock_refuses_the_run_and_only_the_holders_run_id_breaks_it(rotation):
    """A killed run's lock: a new run is refused naming holder and expiry; a break with another run id
    breaks nothing; the holder's run id breaks it, and the run that took it over releases it when its
    canary is refused."""
    killed = f"killed-{uuid.uuid4().hex[:8]}"
    planted = rotation.plant_lock(killed, expires_in=1800)
    before = rotation.checksums()

    refused = rotation.run(smtp_rotate_new_credential_file=_bad(rotation))
    assert refused.rc != 0
    assert f"carol on ctl-killed (run id {killed})" in refused.output, refused.output[-3000:]
    assert f"expires at {planted['expires_at']}" in refused.output
    assert f"smtp_rotate_break_lock={killed}" in refused.output and "Wait for it to finish" in refused.output
    assert "Authenticate from one host" not in refused.output    # refused before the canary
    assert rotation.lock()[0] == planted         # the rescue released nothing it did not hold

    wrong = rotation.run(smtp_rotate_new_credential_file=_bad(rotation), smtp_rotate_break_lock="someone-else")
    assert wrong.rc != 0
    assert "smtp_rotate_break_lock=someone-else does not match" in wrong.output, wrong.output[-3000:]
    assert rotation.lock()[0] == planted

    taken = rotation.run(smtp_rotate_new_credential_file=_bad(rotation), smtp_rotate_break_lock=killed)
    assert taken.rc != 0
    assert "Canary failed" in taken.output, taken.output[-3000:]
    record = _assert_free(rotation, not_run_id=killed)
    assert record["broke"] == killed             # the run that broke the lock says whose
    assert rotation.vault_version() == 1 and rotation.checksums() == before


def test_an_expired_lock_is_taken_over_and_a_refused_check_and_set_releases_it(rotation, standins):
    """A killed run's lock that expired frees itself. Then someone stores a version by hand while the run's
    canary is under way: the store's check-and-set refuses, the message says what happened and what to do,
    no file changes, and the lock is released."""
    killed = f"killed-{uuid.uuid4().hex[:8]}"
    rotation.plant_lock(killed, expires_in=-5)
    before = rotation.checksums()
    new = f"Rot-{uuid.uuid4().hex[:12]}"
    standins.control.add_password(standins.mailbox, new)
    audit = Path(rotation.lab.state["vault"]["audit_log"])
    offset = audit.stat().st_size
    results = []
    runner = threading.Thread(target=lambda: results.append(
        rotation.run(smtp_rotate_new_credential_file=rotation.new_credential_file(new))))
    runner.start()
    try:
        # The run's read of the credential (after its lock take) starts the canary: write now.
        wanted = f"{MOUNT}/data/{rotation.path}"
        deadline = time.monotonic() + 240
        seen = False
        while not seen and time.monotonic() < deadline and runner.is_alive():
            for entry in audit_entries(audit, offset):
                req = entry.get("request") or {}
                if entry.get("type") == "response" and req.get("path") == wanted and req.get("operation") == "read":
                    seen = True
                    break
            time.sleep(0.05)
        assert seen, "the run never read the credential"
        rotation.vault().secrets.kv.v2.create_or_update_secret(
            path=rotation.path, mount_point=MOUNT,
            secret={"username": standins.mailbox, "password": rotation.v1})   # by hand: same data, a new version
    finally:
        runner.join(600)
    run = results[0]
    assert run.rc != 0
    assert "refused to write" in run.output and "this run read version 1 (cas 1), but version 2" in run.output, \
        run.output[-3000:]
    assert "Someone else stored a version since this run read it" in run.output and "then run again" in run.output
    record = _assert_free(rotation, not_run_id=killed)
    assert "broke" not in record                 # expired, not broken
    assert rotation.vault_version() == 2 and rotation.checksums() == before


def test_report_mode_and_check_take_no_lock_and_name_the_holder(rotation):
    holder = f"rot-{uuid.uuid4().hex[:8]}"
    planted = rotation.plant_lock(holder, expires_in=1800, user="dave", host="ctl-busy")
    version = rotation.lock()[1]
    host = rotation.hosts[0]
    try:
        for extra, role_vars in (((), {"smtp_rotate_mode": "report"}), (("--check",), {})):
            run = rotation.run(*extra, smtp_rotate_hosts=host, **role_vars)
            assert run.rc == 0, run.output[-4000:]
            lock = rotation.report()["lock"]
            assert lock["held"] is True and lock["run_id"] == holder and lock["expires_at"] == planted["expires_at"]
            md = (rotation.scratch / "report" / "rotation.md").read_text()
            assert f"held by dave on ctl-busy (run id {holder})" in md and planted["expires_at"] in md
            assert rotation.lock() == (planted, version)     # nothing written: no lock taken or released
    finally:
        rotation.plant_lock(holder, expires_in=-5)


def test_configure_refuses_while_another_run_holds_the_lock_and_the_holder_goes_ahead(rotation):
    holder = f"rot-{uuid.uuid4().hex[:8]}"
    planted = rotation.plant_lock(holder, expires_in=1800)
    host = rotation.hosts[0]
    before = rotation.checksums()[host]
    try:
        refused = rotation.run(playbook="mailops.smtp.configure", smtp_configure_hosts=host)
        assert refused.rc != 0
        assert "configure refused" in refused.output and f"run id {holder}" in refused.output, refused.output[-3000:]
        assert f"mailops_smtp_lock_run_id={holder}" in refused.output
        assert rotation.checksums()[host] == before
        allowed = rotation.run(playbook="mailops.smtp.configure", smtp_configure_hosts=host,
                               mailops_smtp_lock_run_id=holder)
        assert allowed.rc == 0, allowed.output[-4000:]
        assert rotation.lock()[0] == planted      # configure only reads the lock
    finally:
        rotation.plant_lock(holder, expires_in=-5)


def test_configure_names_the_policy_rule_when_it_may_not_read_the_lock(rotation):
    """A token that reads the credential but not its lock: configure fails and names the rule to add."""
    client = rotation.vault()
    name = f"smtp-read-only-{uuid.uuid4().hex[:8]}"
    client.sys.create_or_update_policy(name=name, policy=(
        f'path "{MOUNT}/data/{rotation.path}" {{ capabilities = ["read"] }}\n'))
    token = client.auth.token.create(policies=[name], ttl="10m")["auth"]["client_token"]
    try:
        vault = dict(rotation.base_vars()["mailops_smtp_vault"], auth={"method": "token", "token": token})
        run = rotation.run(playbook="mailops.smtp.configure", smtp_configure_hosts=rotation.hosts[0],
                           mailops_smtp_vault=vault)
        assert run.rc != 0
        assert "permission denied (HTTP 403)" in run.output, run.output[-3000:]
        assert f'path "{MOUNT}/data/{rotation.path}.lock" {{ capabilities = ["read"] }}' in run.output
    finally:
        client.auth.token.revoke(token)
        client.sys.delete_policy(name=name)
