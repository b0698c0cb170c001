# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decisions of the move of one host (roles/smtp_migrate/tasks/move.yml), behind its filters
(plugins/filter/migrate_move_files.py).

Internal use only. What the move may write or remove is worked out from the facts the writers
already hold: the preset table and the drift marker's sidecar (module_utils/_presets.py, _marker.py),
the names of the token refresher's files (module_utils/_leftovers.py, plugin_utils/_configure.py) and
the two roles' own defaults, which move.yml reads from the roles and passes in. Nothing here holds or
returns a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mailops.smtp.plugins.module_utils import _leftovers, _marker
from ansible_collections.mailops.smtp.plugins.module_utils._presets import DB_SUFFIX, PRESETS, bundle_spec
from ansible_collections.mailops.smtp.plugins.plugin_utils import _configure

POSTFIX_FILES = ("main.cf", "master.cf")
# The settings of each role that say where it writes; move.yml passes their values as the host sees them.
CONFIGURE_KEYS = ("smtp_configure_refresher_dir", "smtp_configure_refresher_config_dir", "smtp_configure_endpoint",
                  "smtp_configure_ca_path", "smtp_configure_from_address", "smtp_configure_from_name",
                  "smtp_configure_preset_reload")
RELAY_KEYS = ("smtp_relay_postfix_dir", "smtp_relay_config_dir", "smtp_relay_lib_dir", "smtp_relay_token_file",
              "smtp_relay_msmtp_config")


class MoveError(Exception):
    """A setting the move needs is missing; the message says which."""


# ---- the settings of the two roles, as the host sees them -----------------------------------------

def effective(keys, defaults, host_vars, given=None):
    """For each key: the value given to the role (the plan), else the host's variable, else the role default."""
    given, host_vars, defaults = given or {}, host_vars or {}, defaults or {}
    out = {}
    for k in keys:
        if k in given:
            out[k] = given[k]
        elif k in host_vars:
            out[k] = host_vars[k]
        elif k in defaults:
            out[k] = defaults[k]
        else:
            raise MoveError("the role default %s is missing; is the collection complete?" % k)
    return out


# ---- what the move may write or remove -----------------------------------------------------------------

def _kind(app):
    return _configure.app_kind(app)


def _path(app):
    return app.get("path") or (PRESETS.get(_kind(app)) or {}).get("path")


def sasl_map_files(config_dir):
    """The Postfix SASL map of an instance and every compiled form of it."""
    src = os.path.join(config_dir, _leftovers.SASL_MAP)
    return [src] + [src + s for s in sorted(set(DB_SUFFIX.values()))]


def app_files(app):
    """The files mailops.smtp.host_settings writes for one item of smtp_configure_apps, in any mode."""
    kind, path = _kind(app), _path(app)
    if not path:
        raise MoveError("the app %s has no path (preset %s has no default): give its path" % (app.get("name"), kind))
    if kind == "postfix":
        return [os.path.join(path, n) for n in POSTFIX_FILES] + sasl_map_files(path)
    out = [path]
    if (PRESETS.get(kind) or {}).get("ca"):
        # The CA bundle some presets write beside the file when they are given a ca_path.
        out.append(bundle_spec(path, {"ca_path": ""})["path"])
    if kind == "json":
        out.append(path + _marker.SIDECAR_SUFFIX)
    return out


def refresher_files(app):
    """The token refresher's files of an msmtp account outside its directories: token, expiry, schedule."""
    d = _configure.describe_app(app, "m365", "oauth2")
    service, timer = _leftovers.unit_names(d["account"])
    return [d["token_file"], d["token_file"] + _leftovers.TOKEN_META_SUFFIX,
            _leftovers.cron_file(d["account"]),
            os.path.join(_leftovers.SYSTEMD_DIR, service), os.path.join(_leftovers.SYSTEMD_DIR, timer),
            os.path.join(_leftovers.SYSTEMD_DIR, "timers.target.wants", timer)]


def relay_files(relay):
    """The relay's files outside its directories: Postfix's (the SASL map of a basic upstream too), the token, cron."""
    token = relay["smtp_relay_token_file"]
    return ([os.path.join(relay["smtp_relay_postfix_dir"], n) for n in POSTFIX_FILES]
            + sasl_map_files(relay["smtp_relay_postfix_dir"])
            + [relay["smtp_relay_msmtp_config"], token, token + _leftovers.TOKEN_META_SUFFIX,
               os.path.join(_leftovers.CRON_DIR, _leftovers.RELAY_CRON_FILE)])


def _unique(paths):
    out = []
    for p in paths:
        p = os.path.normpath(p)
        if p not in out:
            out.append(p)
    return out


def move_files(plan, old_apps, configure, relay=None):
    """{files, trees}: every path the move of one host may write or remove, for mailops.smtp.file_snapshot.

    plan: smtp_migrate__plan; old_apps: the host's smtp_configure_apps before the move; configure: the
    configure role's settings (CONFIGURE_KEYS); relay: the relay role's settings (RELAY_KEYS), when
    plan.relay is set. The directories of the token refresher and of the relay's helper are trees: the
    move may create files there whose names no fact lists (the collection's code).
    """
    apps = list(old_apps or []) + list((plan or {}).get("configure_apps") or [])
    files, trees = [], []
    for app in apps:
        files.extend(app_files(app))
        if _kind(app) == "msmtp":
            files.extend(refresher_files(app))
            trees.extend([configure["smtp_configure_refresher_config_dir"], configure["smtp_configure_refresher_dir"]])
    if (plan or {}).get("relay"):
        if not relay:
            raise MoveError("the plan runs a relay on this host, but the relay's settings were not given")
        files.extend(relay_files(relay))
        trees.extend([relay["smtp_relay_config_dir"], relay["smtp_relay_lib_dir"]])
    return {"files": _unique(files), "trees": _unique(trees)}


# ---- the proof's input -----------------------------------------------------------------------------------

def proof_apps(apps, configure):
    """The apps option of mailops.smtp.send_proof: name, preset or format, path, options, keys and section.

    Each app is named and its options completed as the configure role resolves it with an oauth2 credential
    (an msmtp app on XOAUTH2 gains its token_file), so that the proofs come back under the names the outcome
    reports. The path is the preset's default when not given.
    """
    described = _configure.configure_apps(
        apps, configure["smtp_configure_endpoint"], "oauth2", configure.get("smtp_configure_ca_path"),
        configure.get("smtp_configure_from_address"), configure.get("smtp_configure_from_name"),
        configure.get("smtp_configure_preset_reload"))
    out = []
    for d in described:
        app = d["app"]
        item = {"name": d["name"], "path": _path(app), "options": d["options"]}
        for k in ("preset", "format", "keys", "section"):
            if app.get(k) is not None:
                item[k] = app[k]
        out.append(item)
    return out


# ---- the outcome -------------------------------------------------------------------------------------------

def proof_failures(apps, proof):
    """Why the proof does not count (empty when every app has an accepted proof), in the proof's own words."""
    proofs = dict((p.get("name"), p) for p in (proof or {}).get("proofs") or [])
    out = []
    for app in apps or []:
        name = app.get("name")
        p = proofs.get(name)
        if p is None:
            out.append("%s: no proof was made" % name)
        elif not p.get("accepted"):
            why = p.get("diagnosis") or "not accepted"
            if isinstance(why, dict):
                why = why.get("title") or why.get("code")
            detail = p.get("message") or "%s: %s" % (name, why)
            reply = " (the reply: %s)" % p["reply"] if p.get("reply") else ""
            out.append("%s [%s proof, path %s]%s" % (detail, p.get("kind"), p.get("path"), reply))
    return out


def _apps_with_proofs(apps, proof):
    proofs = dict((p.get("name"), p) for p in (proof or {}).get("proofs") or [])
    return [{"name": a.get("name"), "proof": proofs.get(a.get("name"))} for a in apps or []]


def moved(apps, proof):
    """smtp_migrate__moved for a host whose every app was proven through its new path."""
    return {"status": "moved", "apps": _apps_with_proofs(apps, proof), "restored_files": [], "message": None}


def failure_reason(task_name, result, fallback="failed (no message)"):
    """Why a step of the move failed: the task, its message, and the last line a failed command wrote to stderr.

    A command's own message is only that it exited non-zero: the reason (the token refresher's "error: ...",
    say) is on its stderr, which no secret reaches (the refresher reads its credential from a file)."""
    result = result if isinstance(result, dict) else {}
    reason = "%s: %s" % (task_name or "a step of the move", result.get("msg") or fallback)
    lines = [line.strip() for line in result.get("stderr_lines") or [] if isinstance(line, str) and line.strip()]
    return "%s (%s)" % (reason, lines[-1]) if lines else reason


def failed_steps(results):
    """How many of the registered results (tasks or loop items) failed; skipped ones count for nothing."""
    count = 0
    for r in results or []:
        if not isinstance(r, dict) or r.get("skipped"):
            continue
        items = r.get("results") if isinstance(r.get("results"), list) else [r]
        count += sum(1 for i in items if isinstance(i, dict) and i.get("failed"))
    return count


def put_back_command(host, saved_copy):
    """The commands that put a lost host's saved files back and delete the copy, once it answers again."""
    return ("ansible %s -b -m mailops.smtp.file_snapshot -a 'path=%s state=restored', then the same with "
            "state=absent" % (host or "HOST", saved_copy))


def lost(apps, proof, failure, host=None, saved_copy=None):
    """smtp_migrate__moved of a host that stopped answering during its move: unreachable, never restored.

    Its files may be part-way moved (the steps before the loss ran) and nothing could be put back; the saved
    copy of its previous files (with the old passwords) could not be deleted either. A later move of the host
    refuses to start while that copy is there (interrupted_copies), so the message says how to put it back."""
    where = "%s: " % host if host else ""
    copy = ("; a saved copy of its previous files (they hold the old passwords) may be left in %s: once the "
            "host answers, put them back and delete the copy (%s), then run the same command again"
            % (saved_copy, put_back_command(host, saved_copy)) if saved_copy else
            "; once the host answers, run the same command again")
    return {"status": None, "unreachable": True, "failed": True, "apps": _apps_with_proofs(apps, proof),
            "restored_files": [],
            "message": "%slost during its move (it stopped answering: %s). Its files may be part-way moved and "
                       "were not put back%s." % (where, failure, copy)}


def delete_copy_command(host, saved_copy):
    """The command that deletes a saved copy whose move was proven (nothing to put back)."""
    return "ansible %s -b -m mailops.smtp.file_snapshot -a 'path=%s state=absent'" % (host or "HOST", saved_copy)


def copy_left(moved, deleted, host=None, saved_copy=None):
    """smtp_migrate__moved once the move tried to delete its saved copy (move.yml's always): as it was when the
    copy is gone, else with the copy named (saved_copies), why it is left and the command that deletes it.

    deleted: the registered result of file_snapshot (state absent). The status stays: a host lost after its
    proofs was moved (its apps were proven), but the copy holds the old passwords. lost_after_move says the
    host stopped answering (the report's state counts it as unreachable). A lost host's own message (lost())
    already names its copy."""
    if not isinstance(moved, dict) or moved.get("unreachable") or not isinstance(deleted, dict):
        return moved
    if not (deleted.get("unreachable") or deleted.get("failed")):
        return moved
    lost_now = bool(deleted.get("unreachable"))
    why = ("it stopped answering before the copy could be deleted" if lost_now else
           "deleting the copy failed: %s" % (deleted.get("msg") or "no message"))
    left = ("the saved copy of its previous files (they hold the old passwords) is left in %s: %s. Once the host "
            "answers, delete it (%s)" % (saved_copy, why, delete_copy_command(host, saved_copy)))
    if moved.get("status") in ("moved", "unchanged"):
        message = "%s%s and proven, but %s." % ("%s: " % host if host else "", moved.get("status"), left)
    else:
        message = "%s; and %s." % ((moved.get("message") or "").rstrip("."), left)
    return dict(moved, message=message, saved_copies=[saved_copy], lost_after_move=lost_now)


def unchanged(found, host=None, run_id=None):
    """smtp_migrate__moved of a host with nothing to move: unchanged, and any saved copy an earlier move left
    on it named, with the commands for it (it holds the old passwords).

    found: the registered find over the state directory (as interrupted_copies). Whether that move was proven
    (then only delete the copy) or lost half-way (then put the files back first) is in the report of the run
    that left it; the files may look moved either way, so both commands are given."""
    copies = interrupted_copies(found, host, run_id)["copies"]
    out = {"status": "unchanged", "apps": [], "restored_files": [], "message": None}
    if not copies:
        return out
    out.update(saved_copies=copies, lost_after_move=True, message=(
        "%snothing to move, but an earlier move that lost this host left the saved copy of its previous files "
        "(they hold the old passwords) in %s. If that run's report says the host moved, delete the copy (%s); if "
        "it says unreachable, put the files back first (%s) and run the same command again." % (
            "%s: " % host if host else "", ", ".join(copies),
            "; ".join(delete_copy_command(host, c) for c in copies),
            "; ".join(put_back_command(host, c) for c in copies))))
    return out


def interrupted_copies(found, host=None, run_id=None):
    """The saved copies an earlier move of this host left in the state directory (it was lost during that move),
    and the message that refuses a new move while they are there: [] and None when there are none.

    found: the registered result of ansible.builtin.find over smtp_migrate_state_dir (directories). Moving the
    host again would save its part-way moved files over the way back, and leave the old passwords behind."""
    copies = sorted(f["path"] for f in (found or {}).get("files") or []
                    if isinstance(f, dict) and f.get("path") and f["path"].rstrip("/").rsplit("/", 1)[-1] != run_id)
    if not copies:
        return {"copies": [], "message": None}
    return {"copies": copies, "message": (
        "%s was lost during an earlier move, which left its previous files saved in %s: its files may be "
        "part-way moved. Nothing was changed. Put them back and delete the copy (%s), then run the same command "
        "again." % (host or "this host", ", ".join(copies),
                    "; ".join(put_back_command(host, c) for c in copies)))}


def failed_move(moved, reach, failure, host=None, saved_copy=None):
    """smtp_migrate__moved after the move of a host failed (the canary and batch plays' rescue).

    moved: what the move left (restored, restore_failed, or lost: kept as they are); reach: the registered
    ping after the failure; failure: the failed step and its message. A host that does not answer the ping was
    lost on the way (unreachable); any other failure before the move could decide is failed."""
    if isinstance(moved, dict) and (moved.get("status") in ("restored", "restore_failed") or moved.get("unreachable")):
        return moved
    if _unreachable(reach):
        return lost([], None, failure, host, saved_copy)
    return {"status": None, "unreachable": False, "failed": True, "message": failure}


def _unreachable(result):
    return isinstance(result, dict) and bool(result.get("unreachable"))


def restored(apps, proof, restore, failure, host=None, reloads=None, saved_copy=None):
    """smtp_migrate__moved after a failed move: restored, or restore_failed when the restore failed too, or
    lost (unreachable) when the host no longer answered to have its files put back.

    restore: the registered result of file_snapshot (state restored), or None (or skipped) when nothing had
    been saved (the save itself failed, so nothing was changed); failure: why the move failed; reloads: the
    registered results of the reloads after the restore; saved_copy: the directory the move saved into.
    """
    where = "%s: " % host if host else ""
    proven = _apps_with_proofs(apps, proof)
    # Checked first: an unreachable restore is neither failed nor skipped, and put nothing back.
    if _unreachable(restore):
        return lost(apps, proof, failure, host, saved_copy)
    if restore is None or restore.get("skipped"):
        return {"status": "restored", "apps": proven, "restored_files": [],
                "message": "%sthe move failed before any file was changed: %s" % (where, failure)}
    if restore.get("failed"):
        return {"status": "restore_failed", "apps": proven, "restored_files": [],
                "message": "%sthe move failed (%s), and putting the previous files back failed too: %s. The host "
                           "may be half moved: fix the cause and run the migration again, or restore its files "
                           "from your backups." % (where, failure, restore.get("msg"))}
    files = restore.get("differed") or []
    failed = failed_steps(reloads)
    reloaded = ("and its applications reloaded" if not failed else
                "but %d reload(s) failed: reload those applications yourself (the output above names them)" % failed)
    return {"status": "restored", "apps": proven, "restored_files": files,
            "message": "%sthe move failed, so its previous files were put back exactly (%d restored) %s. Why it "
                       "failed: %s" % (where, len(files), reloaded, failure)}


# ---- the reloads after a restore --------------------------------------------------------------------------

def _touches(app, paths):
    return bool(set(app_files(app)) & set(paths))


def restore_reloads(old_apps, new_apps, restored_paths, saved, configure, relay=None, proof=None):
    """What a host owes after its files were put back: {reloads, relay_restart, stop_timers, drop_queued}.

    reloads: the apps (before the move, then any the move added) whose file was put back, with their
    service or command, as the configure role's handlers take them (plugin_utils/_configure.py, reloads).
    relay_restart: the Postfix configuration directory of the relay when one of its files was put back, or
    None; its Postfix is stopped and started (new listen addresses need it, as the relay's own handler does).
    stop_timers: the refresher timers the move created and the restore removed, which systemd runs until
    they are stopped. drop_queued: the queue ids of proof messages the relay on this host took and did not
    deliver; with the previous files back they would leave by the previous way.
    """
    paths = set(os.path.normpath(p) for p in restored_paths or [])
    described, names = [], set()
    apps = list(old_apps or []) + list(new_apps or [])
    for d in _configure.configure_apps(apps, configure["smtp_configure_endpoint"], "basic", None, None, None,
                                       configure.get("smtp_configure_preset_reload")):
        if d["name"] not in names:
            names.add(d["name"])
            described.append(d)
    written = {"apps": [{"name": d["name"], "content_changed": _touches(d["app"], paths)} for d in described]}
    restart = None
    if relay and set(relay_files(relay)[:len(POSTFIX_FILES)]) & paths:
        restart = relay["smtp_relay_postfix_dir"]
    absent = set(f["path"] for f in (saved or {}).get("files") or [] if f.get("kind") == "absent")
    timers = [os.path.basename(p) for p in sorted(paths & absent)
              if p.startswith(os.path.join(_leftovers.SYSTEMD_DIR, _leftovers.UNIT_PREFIX)) and p.endswith(".timer")]
    queued = [p["relay_queue_id"] for p in (proof or {}).get("proofs") or []
              if relay and p.get("relay_queue_id") and not p.get("accepted")]
    return {"reloads": _configure.reloads(described, written), "relay_restart": restart, "stop_timers": timers,
            "drop_queued": queued}
