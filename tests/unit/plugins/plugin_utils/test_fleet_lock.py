# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet lock: its record, expiry, decisions and messages, and its check-and-set writes (on a stub KV v2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import hvac.exceptions
import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils._fleet_lock import (
    FleetLock,
    LockHeld,
    decide_check,
    decide_release,
    decide_take,
    held_record,
    is_active,
    lock_path,
    public,
    run_action,
)
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import cas_refused_message
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions

T0 = datetime(2026, 12, 7, 2, 0, 0, tzinfo=timezone.utc)


class StubKV2:
    """KV v2 as hvac sees it, with Vault's check-and-set rule; `race` writes once before the next write."""

    def __init__(self, forbidden=False):
        self.versions = {}   # path -> list of data
        self.forbidden = forbidden
        self.race = None
        self.writes = []
        self.secrets = self
        self.kv = self
        self.v2 = self

    def read_secret_version(self, path, mount_point, raise_on_deleted_version=False):
        if self.forbidden:
            raise hvac.exceptions.Forbidden("permission denied")
        if not self.versions.get((mount_point, path)):
            raise hvac.exceptions.InvalidPath("")
        history = self.versions[(mount_point, path)]
        return {"data": {"data": dict(history[-1]), "metadata": {"version": len(history)}}}

    def create_or_update_secret(self, path, secret, cas, mount_point):
        if self.race is not None:
            race, self.race = self.race, None
            self.versions.setdefault((mount_point, path), []).append(race)
        history = self.versions.setdefault((mount_point, path), [])
        if cas is not None and cas != len(history):
            raise hvac.exceptions.InvalidRequest("check-and-set parameter did not match the current version")
        history.append(dict(secret))
        self.writes.append(dict(secret))
        return {"data": {"version": len(history)}}


def lock_on(stub):
    return FleetLock(stub, "secret", "smtp/o365-mailer", url="https://vault.test")


def act(stub, action, run_id="run-a", now=T0, **kw):
    return run_action(lock_on(stub), action, run_id=run_id, user="alice", host="ctl1", ttl=600, now=now, **kw)


# ---- the record and its decisions -------------------------------------------------------

def test_the_lock_sits_beside_the_credential():
    assert lock_path("/smtp/o365-mailer/") == "smtp/o365-mailer.lock"


def test_a_record_names_its_holder_start_and_expiry():
    rec = held_record("run-a", "alice", "ctl1", 600, T0)
    assert rec == {"state": "held", "run_id": "run-a", "user": "alice", "host": "ctl1",
                   "started_at": "2026-12-07T02:00:00Z", "renewed_at": "2026-12-07T02:00:00Z", "ttl": 600,
                   "expires_at": "2026-12-07T02:10:00Z"}
    assert is_active(rec, T0 + timedelta(seconds=599))
    assert not is_active(rec, T0 + timedelta(seconds=600))


@pytest.mark.parametrize("record", [None, {}, {"state": "released", "expires_at": "2099-01-01T00:00:00Z"},
                                    {"state": "held", "expires_at": "not a time"}, {"state": "held"}])
def test_free_released_or_unreadable_locks_are_not_held(record):
    assert not is_active(record, T0)
    assert decide_take(record, "run-b", T0) == "take"


def test_a_held_lock_refuses_another_run_naming_holder_and_expiry():
    rec = held_record("run-a", "alice", "ctl1", 600, T0)
    with pytest.raises(LockHeld) as err:
        decide_take(rec, "run-b", T0 + timedelta(seconds=60))
    msg = str(err.value)
    assert "alice on ctl1 (run id run-a)" in msg and "expires at 2026-12-07T02:10:00Z (in 9 min)" in msg
    assert "Wait for it to finish" in msg and "smtp_rotate_break_lock=run-a" in msg


def test_the_holder_taking_again_renews_and_break_needs_the_holders_run_id():
    rec = held_record("run-a", "alice", "ctl1", 600, T0)
    assert decide_take(rec, "run-a", T0) == "renew"
    with pytest.raises(LockHeld) as err:
        decide_take(rec, "run-b", T0, break_lock="run-x")
    assert "smtp_rotate_break_lock=run-x does not match" in str(err.value) and "Nothing was broken" in str(err.value)
    assert decide_take(rec, "run-b", T0, break_lock="run-a") == "take"


def test_configure_goes_ahead_only_for_the_holder_or_a_free_lock():
    rec = held_record("run-a", "alice", "ctl1", 600, T0)
    decide_check(rec, "run-a", T0)
    decide_check(None, None, T0)
    decide_check(rec, None, T0 + timedelta(seconds=601))
    with pytest.raises(LockHeld) as err:
        decide_check(rec, None, T0)
    assert "configure refused" in str(err.value) and "mailops_smtp_lock_run_id=run-a" in str(err.value)


def test_release_touches_only_this_runs_lock():
    rec = held_record("run-a", "alice", "ctl1", 600, T0)
    assert decide_release(rec, "run-a") == "release"
    assert decide_release(rec, "run-b") == "nothing"
    assert decide_release(None, "run-a") == "nothing"


def test_public_says_expired_and_names_the_holder():
    rec = held_record("run-a", "alice", "ctl1", 600, T0)
    assert public(None, T0) == {"held": False, "state": "free"}
    assert public(rec, T0)["holder"].startswith("alice on ctl1")
    assert public(rec, T0 + timedelta(hours=1))["state"] == "expired"


# ---- check-and-set on KV v2 --------------------------------------------------------------

def test_take_renew_release_write_with_check_and_set():
    stub = StubKV2()
    taken = act(stub, "take")
    assert taken["changed"] and taken["version"] == 1 and taken["lock"]["held"]
    assert taken["path"] == "secret/smtp/o365-mailer.lock"
    renewed = act(stub, "renew", now=T0 + timedelta(seconds=300))
    assert renewed["lock"]["expires_at"] == "2026-12-07T02:15:00Z"
    assert renewed["lock"]["started_at"] == "2026-12-07T02:00:00Z"
    released = act(stub, "release", now=T0 + timedelta(seconds=400))
    assert released["changed"] and released["lock"]["state"] == "released" and not released["lock"]["held"]
    assert act(stub, "release")["changed"] is False
    # Free again: another run takes it.
    assert act(stub, "take", run_id="run-b")["lock"]["run_id"] == "run-b"


def test_a_lost_race_rereads_and_names_the_winner():
    stub = StubKV2()
    stub.race = held_record("run-w", "bob", "ctl2", 600, T0)
    with pytest.raises(LockHeld) as err:
        act(stub, "take")
    assert "bob on ctl2 (run id run-w)" in str(err.value)
    assert [w["run_id"] for w in stub.writes] == []


def test_renew_after_the_lock_was_broken_says_this_run_lost_it():
    stub = StubKV2()
    act(stub, "take")
    act(stub, "take", run_id="run-b", break_lock="run-a")
    with pytest.raises(LockHeld) as err:
        act(stub, "renew")
    assert "no longer holds" in str(err.value) and "run id run-b" in str(err.value)


def test_an_expired_lock_is_taken_over_and_break_ends_only_the_named_run():
    stub = StubKV2()
    act(stub, "take")
    later = T0 + timedelta(seconds=601)
    assert act(stub, "take", run_id="run-b", now=later)["lock"]["run_id"] == "run-b"
    with pytest.raises(LockHeld):
        act(stub, "break", run_id="run-c", break_lock="run-a", now=later)
    broken = act(stub, "break", run_id="run-c", break_lock="run-b", now=later)
    assert broken["lock"]["state"] == "broken" and broken["lock"]["ended_by"] == "run-c"


def test_check_mode_only_reads():
    stub = StubKV2()
    out = act(stub, "take", check_mode=True)
    assert out["changed"] is False and stub.writes == []


def test_a_403_names_the_policy_rule_to_grant():
    with pytest.raises(VaultCredentialError) as err:
        act(StubKV2(forbidden=True), "check", run_id=None)
    assert 'path "secret/data/smtp/o365-mailer.lock" { capabilities = ["read"] }' in str(err.value)
    with pytest.raises(VaultCredentialError) as err:
        act(StubKV2(forbidden=True), "take")
    assert '{ capabilities = ["read", "create", "update"] }' in str(err.value)


def test_take_needs_a_run_id():
    with pytest.raises(VaultCredentialError, match="needs run_id"):
        act(StubKV2(), "take", run_id=None)


# ---- the credential store's check-and-set refusal, for an operator -----------------------

def _opts(cas):
    return VaultOptions({"path": "smtp/o365-mailer", "url": "https://vault.test", "state": "present",
                         "data": {"password": "x"}, "cas": cas}, ACTION_SPEC, environ={})


def test_the_cas_refusal_says_what_happened_and_what_to_do():
    msg = cas_refused_message(_opts(6), 7)
    assert "this run read version 6 (cas 6), but version 7 is the latest now" in msg
    assert "Someone else stored a version since this run read it" in msg and "nothing was written" in msg
    assert "bao kv metadata get -mount=secret smtp/o365-mailer" in msg and "then run again" in msg
    assert "a newer version was stored a moment ago" in cas_refused_message(_opts(6), 6)
    assert "requires check-and-set" in cas_refused_message(_opts(None), 6)
