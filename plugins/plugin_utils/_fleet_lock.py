# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: the fleet lock kept in Vault beside a credential (<path>.lock on its KV v2 mount).

Vault is the one component every controller, AWX node and operator shares, so the lock lives there.
Every write is a KV v2 check-and-set on the version just read: of two runs that race, one write
fails and that run re-reads and finds the winner. Nothing is ever deleted: a release writes a
record with state "released", so the policy needs read, create and update on the lock path only.

The pure functions (record, expiry, decisions, messages) come first; FleetLock does the Vault I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timedelta, timezone

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_connection import import_hvac
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError, translate

LOCK_SUFFIX = ".lock"
DEFAULT_TTL = 3600
HELD, RELEASED, BROKEN = "held", "released", "broken"
ACTIONS = ("status", "check", "take", "renew", "release", "break")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class LockHeld(VaultCredentialError):
    """Another run holds the lock (or this run lost it); the message says who and what to do."""


class _LockRace(Exception):
    """A check-and-set write lost against another writer; re-read and decide again."""


# -- the record -----------------------------------------------------------------------------------
def lock_path(path):
    return path.strip("/") + LOCK_SUFFIX


def utc_now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def format_time(moment):
    return moment.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text):
    """A record's time, or None when the field is missing or not ours (treated as expired)."""
    try:
        return datetime.strptime(str(text), _TIME_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def held_record(run_id, user, host, ttl, now, started_at=None, broke=None):
    """The record a holder writes when it takes or renews the lock."""
    record = {
        "state": HELD,
        "run_id": run_id,
        "user": user,
        "host": host,
        "started_at": started_at or format_time(now),
        "renewed_at": format_time(now),
        "ttl": int(ttl),
        "expires_at": format_time(now + timedelta(seconds=int(ttl))),
    }
    if broke:
        record["broke"] = broke
    return record


def ended_record(record, state, now, by_run_id=None):
    """The record left after a release (state released) or a break (state broken)."""
    ended = dict(record or {}, state=state, ended_at=format_time(now))
    if by_run_id:
        ended["ended_by"] = by_run_id
    return ended


def is_active(record, now):
    """Held and not expired. A record whose expiry cannot be read counts as expired."""
    if not record or record.get("state") != HELD:
        return False
    expires = parse_time(record.get("expires_at"))
    return expires is not None and expires > now


def is_ours(record, run_id):
    return bool(record) and record.get("state") == HELD and bool(run_id) and record.get("run_id") == run_id


def holder_text(record):
    return "%s on %s (run id %s), since %s" % (record.get("user") or "?", record.get("host") or "?",
                                               record.get("run_id") or "?", record.get("started_at") or "?")


def _remaining(record, now):
    expires = parse_time(record.get("expires_at"))
    if expires is None:
        return "unknown"
    minutes = max(0, int((expires - now).total_seconds() // 60))
    return "%d min" % minutes


# -- decisions ------------------------------------------------------------------------------------
def decide_take(record, run_id, now, break_lock=None, where="the fleet lock"):
    """What take does with the record found: 'take' (free, expired or broken on request),
    'renew' (this run already holds it), or raise LockHeld."""
    if is_ours(record, run_id):
        return "renew"
    if not is_active(record, now):
        return "take"
    if break_lock:
        if break_lock == record.get("run_id"):
            return "take"
        raise LockHeld(break_mismatch_message(record, break_lock, where))
    raise LockHeld(held_message(record, now, where))


def decide_check(record, run_id, now, where="the fleet lock"):
    """configure goes ahead when the lock is free, expired, or held by the run that called it."""
    if is_active(record, now) and not is_ours(record, run_id):
        raise LockHeld(configure_refused_message(record, now, run_id, where))


def decide_renew(record, run_id, now, where="the fleet lock"):
    """Renew only a lock this run holds; another holder means this run lost it."""
    if is_ours(record, run_id):
        return "renew"
    raise LockHeld(lost_message(record, run_id, now, where))


def decide_release(record, run_id):
    """Release only a lock this run holds: releasing another run's lock would let a third one in."""
    return "release" if is_ours(record, run_id) else "nothing"


def decide_break(record, break_lock, now, where="the fleet lock"):
    if not is_active(record, now):
        return "nothing"
    if break_lock and break_lock == record.get("run_id"):
        return "break"
    raise LockHeld(break_mismatch_message(record, break_lock, where))


# -- messages: what happened, then what to do -----------------------------------------------------
_WHERE = "the fleet lock %s"


def held_message(record, now, where="the fleet lock"):
    return ("%s is held by %s; it expires at %s (in %s) unless that run renews it. Another rotation or "
            "migration of this credential is running; nothing was done by this run. Wait for it to finish, "
            "then run again. If that run was killed (its controller died, Ctrl-C twice), the lock frees "
            "itself at %s, or break it now with -e smtp_rotate_break_lock=%s once you are sure that run is gone."
            % (where, holder_text(record), record.get("expires_at") or "?", _remaining(record, now),
               record.get("expires_at") or "?", record.get("run_id") or "?"))


def break_mismatch_message(record, break_lock, where="the fleet lock"):
    return ("smtp_rotate_break_lock=%s does not match the run holding %s: it is held by %s, until %s. "
            "Nothing was broken. A break names the holder's run id, so that it never breaks a lock "
            "another run took since; check that run %s is gone, then break with -e smtp_rotate_break_lock=%s."
            % (break_lock or "(empty)", where, holder_text(record), record.get("expires_at") or "?",
               record.get("run_id") or "?", record.get("run_id") or "?"))


def lost_message(record, run_id, now, where="the fleet lock"):
    if is_active(record, now):
        now_held = "it is now held by %s, until %s" % (holder_text(record), record.get("expires_at") or "?")
    else:
        now_held = "it is %s" % ((record or {}).get("state") or "gone")
    return ("this run (run id %s) no longer holds %s: %s (it was broken, or it expired and was taken over). "
            "This run stops here. Read the other run's report before you run again; hosts this run did not "
            "reach keep their credential." % (run_id or "?", where, now_held))


def configure_refused_message(record, now, run_id, where="the fleet lock"):
    return ("configure refused: %s is held by %s, until %s (in %s). A rotation or migration of this credential "
            "is under way and configures the hosts itself; writing the credential now could undo its work. "
            "Wait for that run to finish and run configure again. A run that holds the lock passes its run id "
            "to the configure it runs (mailops_smtp_lock_run_id=%s)%s."
            % (where, holder_text(record), record.get("expires_at") or "?", _remaining(record, now),
               record.get("run_id") or "?",
               "; this configure gave run id %s" % run_id if run_id else ""))


def policy_rule(mount, path, capabilities):
    return 'path "%s/data/%s" { capabilities = [%s] }' % (
        mount.strip("/"), lock_path(path), ", ".join('"%s"' % c for c in capabilities))


READ_CAPS = ("read",)
WRITE_CAPS = ("read", "create", "update")


def public(record, now):
    """The lock as a task returns it: the record (no secret in it) plus whether it is held now."""
    if not record:
        return {"held": False, "state": "free"}
    out = dict(record)
    out["held"] = is_active(record, now)
    if record.get("state") == HELD and not out["held"]:
        out["state"] = "expired"
    if out["held"]:
        out["holder"] = holder_text(record)
    return out


# -- Vault I/O ------------------------------------------------------------------------------------
class FleetLock:
    """The lock of one credential: read it, and write it with check-and-set."""

    def __init__(self, client, mount, path, url=None):
        self.client, self.mount, self.path, self.url = client, mount.strip("/"), path.strip("/"), url
        self.where = "%s/%s" % (self.mount, lock_path(self.path))

    def _forbidden(self, exc, doing, capabilities):
        if type(exc).__name__ == "Forbidden":
            rule = policy_rule(self.mount, self.path, capabilities)
            return VaultCredentialError(
                "Vault refused to %s %s: permission denied (HTTP 403). The token needs this policy rule: %s "
                "(docs/vault.md, \"The fleet lock\")" % (doing, self.where, rule))
        return translate(exc, "%s %s" % (doing, self.where), self.url)

    def read(self, capabilities=READ_CAPS):
        """(record or None, current version; 0 when the lock was never written)."""
        hvac = import_hvac()
        try:
            response = self.client.secrets.kv.v2.read_secret_version(
                path=lock_path(self.path), mount_point=self.mount, raise_on_deleted_version=False)
        except hvac.exceptions.InvalidPath as exc:
            # Never written (0), or its latest version deleted or destroyed by hand (that version).
            metadata = (((getattr(exc, "json", None) or {}).get("data") or {}).get("metadata")) or {}
            return None, int(metadata.get("version") or 0)
        except Exception as exc:
            raise self._forbidden(exc, "read", capabilities)
        data = (response or {}).get("data") or {}
        version = int((data.get("metadata") or {}).get("version") or 0)
        return data.get("data") or None, version

    def write(self, record, cas):
        hvac = import_hvac()
        try:
            response = self.client.secrets.kv.v2.create_or_update_secret(
                path=lock_path(self.path), secret=record, cas=cas, mount_point=self.mount)
        except hvac.exceptions.InvalidRequest as exc:
            if "check-and-set" in str(exc):
                raise _LockRace()
            raise self._forbidden(exc, "write", WRITE_CAPS)
        except Exception as exc:
            raise self._forbidden(exc, "write", WRITE_CAPS)
        return int(((response or {}).get("data") or {}).get("version") or 0)


def run_action(lock, action, run_id=None, user=None, host=None, ttl=DEFAULT_TTL, break_lock=None,
               check_mode=False, now=None):
    """Do one lock action; return {changed, lock (public record), version}. Raises LockHeld.

    In check mode every action only reads (configure's check still refuses: it writes nothing).
    """
    caps = READ_CAPS if check_mode or action in ("status", "check") else WRITE_CAPS
    # Two rounds: a lost check-and-set race means someone wrote in between; the re-read shows who.
    given_now = now
    for _attempt in range(2):
        now = given_now or utc_now()
        record, version = lock.read(caps)
        where = _WHERE % lock.where
        try:
            written = _apply(lock, action, record, version, run_id, user, host, ttl, break_lock,
                             check_mode, now, where)
        except _LockRace:
            continue
        if written is None:
            return {"changed": False, "lock": public(record, now), "version": version, "path": lock.where}
        new_record, new_version = written
        return {"changed": True, "lock": public(new_record, now), "version": new_version, "path": lock.where}
    raise LockHeld("%s changed under this run twice in a row (another run is taking it); nothing was done. "
                   "Run again in a minute; the refusal will then name the holder." % (_WHERE % lock.where))


def _apply(lock, action, record, version, run_id, user, host, ttl, break_lock, check_mode, now, where):
    """None when nothing is written, else (record written, its version)."""
    if action == "status":
        return None
    if action == "check":
        decide_check(record, run_id, now, where)
        return None
    if not run_id and action in ("take", "renew", "release"):
        raise VaultCredentialError("fleet lock %s needs run_id" % action)
    if action == "take":
        decision = decide_take(record, run_id, now, break_lock, where)
        started = record.get("started_at") if decision == "renew" else None
        broke = record.get("run_id") if decision == "take" and is_active(record, now) else None
        new = held_record(run_id, user, host, ttl, now, started_at=started, broke=broke)
    elif action == "renew":
        decide_renew(record, run_id, now, where)
        new = held_record(run_id, record.get("user") or user, record.get("host") or host,
                          record.get("ttl") or ttl, now, started_at=record.get("started_at"))
    elif action == "release":
        if decide_release(record, run_id) == "nothing":
            return None
        new = ended_record(record, RELEASED, now)
    elif action == "break":
        if decide_break(record, break_lock, now, where) == "nothing":
            return None
        new = ended_record(record, BROKEN, now, by_run_id=run_id)
    else:
        raise VaultCredentialError("unknown fleet lock action %r; use one of %s" % (action, ", ".join(ACTIONS)))
    if check_mode:
        return None
    return new, lock.write(new, version)
