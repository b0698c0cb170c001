# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation report, and the hosts a rotation cannot reach (mailops.smtp.rotate).

Internal use only. Controller side: the smtp_rotate role calls these through the filters of
plugins/filter/rotate_request.py (rotate_reach, rotate_report, rotate_host_outcome). Nothing here
returns a secret: the report holds versions, Vault paths, results and a command line without secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import shlex

from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import rotate_holds, rotate_leftovers

UNREACHABLE_ACTIONS = ("stop", "skip")

# The variables that say what a run rolls out; the command that finishes a rollout replaces them.
_REQUEST_VARS = ("smtp_rotate_new_credential", "smtp_rotate_new_credential_file", "smtp_rotate_version")

# Keys whose value is a secret: an extra variable holding one is never copied into the finish command.
_SECRET_KEY = re.compile(r"^(.*_)?(password|secret|secret_id|token|client_secret|private_key|new_credential)$", re.I)

# ansible-playbook options carried over, as (CLI key, flag, takes a value).
_CARRIED_OPTIONS = (
    ("subset", "--limit", True), ("remote_user", "--user", True), ("private_key_file", "--private-key", True),
    ("connection", "--connection", True), ("timeout", "--timeout", True), ("forks", "--forks", True),
    ("become", "--become", False), ("become_method", "--become-method", True),
    ("become_user", "--become-user", True), ("ask_pass", "--ask-pass", False),
    ("become_ask_pass", "--ask-become-pass", False), ("ask_vault_pass", "--ask-vault-password", False),
)

_UNKNOWN = "unknown"


def _plain(value):
    """A JSON round trip: plain dicts, lists and strings from Ansible's lazy containers."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def _parse_report(previous):
    if isinstance(previous, (str, bytes)):
        try:
            previous = json.loads(previous) if previous.strip() else None
        except ValueError:
            previous = None
    return previous if isinstance(previous, dict) else None


def last_known(previous, host):
    """The apps of host as the previous rotation.json last saw them ([{name, credential, version}]), or None.

    A host that report lists as unreachable keeps the versions it carried forward, so the last version
    seen survives several runs with the host down.
    """
    report = _parse_report(previous)
    for entry in (report or {}).get("hosts") or []:
        if isinstance(entry, dict) and entry.get("host") == host:
            return [{"name": a.get("name"), "credential": a.get("credential_after", _UNKNOWN),
                     "version": str(a.get("after", _UNKNOWN))} for a in entry.get("apps") or []]
    return None


def _unreachable_reason(result):
    result = result or {}
    if result.get("unreachable"):
        return "unreachable: %s" % str(result.get("msg") or "no connection").strip().splitlines()[0]
    return "failed to answer: %s" % str(result.get("msg") or "the check failed").strip().splitlines()[0]


def rotate_reach(results, previous_report="", action="stop", mode="rotate"):
    """Which hosts could not be reached before the run, and what the run does about it.

    results is {host: the registered result of a ping with ignore_unreachable and ignore_errors}, in play
    order. Returns {unreachable: [hosts], reasons: {host: why}, last_known: {host: apps or None},
    previous_generated_at, stop, message}. Only a rotation with action stop stops; report mode and --check
    always go on without them.
    """
    if action not in UNREACHABLE_ACTIONS:
        raise ValueError("smtp_rotate_unreachable must be stop or skip, not %r" % (action,))
    results = _plain(results) or {}
    down = [h for h, r in results.items() if not isinstance(r, dict) or r.get("unreachable") or r.get("failed")]
    report = _parse_report(previous_report)
    out = {
        "unreachable": down,
        "reasons": dict((h, _unreachable_reason(results[h])) for h in down),
        "last_known": dict((h, last_known(report, h)) for h in down),
        "previous_generated_at": (report or {}).get("generated_at"),
        "stop": bool(down) and mode == "rotate" and action == "stop",
        "message": None,
    }
    if out["stop"]:
        out["message"] = (
            "%d host(s) cannot be reached: %s. The run stopped before the canary: nothing was stored in Vault and "
            "no file was written (smtp_rotate_unreachable=stop). Bring them back and run the same command again, "
            "or add -e smtp_rotate_unreachable=skip to rotate the others now and finish these later with the "
            "command the report gives." % (len(down), ", ".join("%s (%s)" % (h, out["reasons"][h]) for h in down)))
    return out


def _app_entry(name, before, after, check=None, drift=False):
    before, after = before or {}, after or {}
    return {"name": name, "before": str(before.get("version", _UNKNOWN)), "after": str(after.get("version", _UNKNOWN)),
            "credential_before": before.get("credential", _UNKNOWN),
            "credential_after": after.get("credential", _UNKNOWN), "drift": drift,
            "check": check.get("check") if check else None, "check_ok": check.get("ok") if check else None,
            "check_detail": check.get("detail") if check else None}


def _host_apps(pin, fact, in_progress):
    """(apps, moved): each app's version before and after, drift against Vault's current version."""
    before = fact.get("before") or []
    after = fact.get("after")
    outcome = fact.get("outcome") or {}
    if after is None:
        # Not inspected again: untouched so far (in progress), or lost (unknown).
        after = before if in_progress and not outcome else []
    checks = outcome.get("checks") or []
    apps, moved = [], False
    for a in before:
        aft = next((x for x in after if x.get("name") == a.get("name")), {})
        chk = next((c for c in checks if c.get("name") == a.get("name")), None)
        drift = a.get("check", "probe") != "none" and not rotate_holds(aft, pin["credential"], pin["vault_version_now"])
        moved = moved or not rotate_holds(a, pin["credential"], pin["target_version"])
        apps.append(_app_entry(a.get("name"), a, aft, chk, drift))
    return apps, moved


def _unreachable_apps(known):
    return [_app_entry(a.get("name"), a, a) for a in known or []]


def _host_entry(pin, host, fact, reach, active, in_progress):
    """{host, result, reason, apps}, and how it counts: (attempted, failed)."""
    if host in reach["unreachable"]:
        known = reach["last_known"].get(host)
        where = ("versions as the report of %s last saw them" % reach.get("previous_generated_at")
                 if known is not None else "no earlier report lists it: versions unknown")
        return {"host": host, "result": "unreachable", "reason": "%s before the run; %s"
                % (reach["reasons"].get(host, "unreachable"), where),
                "apps": _unreachable_apps(known)}, (0, 0)
    apps, moved = _host_apps(pin, fact, in_progress)
    outcome = fact.get("outcome")
    entry = {"host": host, "apps": apps, "reason": (outcome or {}).get("reason")}
    counts = (1, 1)
    if pin["mode"] == "report":
        entry["result"], counts = ("drift" if any(a["drift"] for a in apps) else "in_sync"), (0, 0)
    elif outcome and outcome.get("result") in ("failed", "unreachable"):
        entry["result"] = outcome["result"]
    elif outcome:
        entry["result"], counts = ("rotated" if moved else "unchanged"), (1, 0)
    elif host in active or in_progress:
        # In progress, the hosts of later batches are not in this batch's play hosts: not reached yet.
        entry["result"], counts = "not_reached", (0, 0)
    else:
        entry["result"], entry["reason"] = "failed", "unreachable or dropped out of the play"
    if entry["result"] == "unreachable":
        for a in apps:
            a["drift"] = False   # listed as unreachable, not as drift: what it holds is not known
    return entry, counts


def _state(in_progress, stopped, hosts):
    if in_progress:
        return "in_progress"
    if stopped:
        return "stopped"
    if any(h["result"] == "unreachable" for h in hosts):
        return "unreachable"
    return "done"


def rotate_report(pin, hosts, facts, active=None, reach=None, phase="final", max_fail_percentage=0,
                  paths=None, cli=None, generated_at=None, credential=None, parse=None):
    """The rotation report (rotation.json): per host and application, what it held before and holds now.

    pin is the pin step's smtp_rotate__pin, or None when the run stopped before pinning (unreachable
    hosts, smtp_rotate_unreachable=stop). hosts are the run's hosts in order; facts is {host: {before,
    after, outcome, leftovers}}; active are the hosts still in the play; reach is rotate_reach's answer. phase is
    in_progress (written after every batch) or final. No secret goes in: versions, paths and results only.
    """
    facts = _plain(facts) or {}
    reach = _plain(reach) or {"unreachable": [], "reasons": {}, "last_known": {}}
    active = set(active if active is not None else hosts)
    pin = _plain(pin) or {"mode": "rotate", "credential": credential, "type": _UNKNOWN, "new_credential": False,
                          "stored": False, "vault_version_before": _UNKNOWN, "target_version": None,
                          "vault_version_now": _UNKNOWN, "pinned": False}
    in_progress = phase == "in_progress"
    entries, attempted, failed = [], 0, 0
    for h in hosts:
        entry, (a, f) = _host_entry(pin, h, facts.get(h) or {}, reach, active, in_progress)
        entries.append(entry)
        attempted, failed = attempted + a, failed + f
    maxfail = float(max_fail_percentage or 0)
    stopped = pin["mode"] == "rotate" and failed > 0 and failed * 100 > attempted * maxfail
    drift = [{"host": e["host"], "app": a["name"], "credential": a["credential_after"], "version": a["after"]}
             for e in entries for a in e["apps"] if a["drift"]]
    report = {
        "mode": pin["mode"],
        "state": _state(in_progress, stopped, entries) if pin.get("pinned", True) else "unreachable",
        "credential": pin["credential"],
        "type": pin["type"],
        "new_credential": pin["new_credential"],
        "stored": pin["stored"],
        "vault_version_before": str(pin["vault_version_before"]),
        "target_version": str(pin["target_version"]) if pin["target_version"] is not None else None,
        "vault_version_now": str(pin["vault_version_now"]),
        "max_fail_percentage": maxfail,
        "stopped": stopped,
        "summary": {
            "hosts": len(entries),
            "attempted": attempted,
            "failed": failed,
            "not_reached": sum(1 for e in entries if e["result"] == "not_reached"),
            "unreachable": sum(1 for e in entries if e["result"] == "unreachable"),
            "drift": len(set(d["host"] for d in drift)),
        },
        "drift": drift,
        "unreachable": [e["host"] for e in entries if e["result"] == "unreachable"],
        "hosts": entries,
        "leftover_secrets": rotate_leftovers([(facts.get(h) or {}).get("leftovers") for h in hosts], hosts,
                                             pin["credential"], pin["vault_version_now"]),
        "lock": pin.get("lock"),
        "paths": paths or {},
        "generated_at": generated_at,
    }
    report["finish_command"], report["finish_command_leaves_out"] = _finish(report, cli, parse)
    report["message"] = outcome_message(report)
    return report


def _finish(report, cli, parse=None):
    """(command, extra variables it leaves out) that rolls the pinned version out to the hosts not on it."""
    unfinished = [h for h in report["hosts"] if h["result"] in ("failed", "unreachable", "not_reached")]
    if report["mode"] != "rotate" or not report["target_version"] or not unfinished or cli is None:
        return None, []
    return finish_command(cli, report["target_version"], parse)


def _holds_secret(value):
    if isinstance(value, dict):
        return any(_SECRET_KEY.match(str(k)) or _holds_secret(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _extra_vars(raw, parse):
    """Each -e of the run again, without what says what to roll out and without any secret.

    Returns (arguments, names left out). A @file is given again as it was (a path holds no secret; what it
    says about the new credential is overridden by the last -e). Inline variables are parsed (parse is
    Ansible's own parser) and given again as JSON, the same variables in the same order.
    """
    args, left_out = [], []
    for item in raw or ():
        item = str(item)
        if item.startswith("@"):
            args += ["-e", item]
            continue
        kept = {}
        for key, value in (parse(item) or {}).items():
            if key in _REQUEST_VARS:
                continue
            if _SECRET_KEY.match(str(key)) or _holds_secret(value):
                left_out.append(key)
                continue
            kept[key] = value
        if kept:
            args += ["-e", json.dumps(kept, sort_keys=True)]
    return args, left_out


def finish_command(cli, version, parse=None):
    """The ansible-playbook command that rolls `version` out with the same playbook, inventory and hosts.

    cli is the run's parsed command line (ansible's context.CLIARGS: args, inventory, subset, extra_vars,
    ...). Returns (command, names of inline extra variables it leaves out because they hold a secret).
    The last -e pins the version and blanks the new credential, so that a vars file that named the new
    secret does not turn the command into a new rotation.
    """
    parse = parse or (lambda text: json.loads(text) if text.strip().startswith("{") else {})
    argv = ["ansible-playbook"]
    for source in cli.get("inventory") or ():
        argv += ["-i", str(source)]
    for key, flag, takes_value in _CARRIED_OPTIONS:
        value = cli.get(key)
        if takes_value and value not in (None, "", ()):
            argv += [flag, str(value)]
        elif not takes_value and value is True:
            argv.append(flag)
    for vault_file in cli.get("vault_password_files") or ():
        argv += ["--vault-password-file", str(vault_file)]
    for vault_id in cli.get("vault_ids") or ():
        argv += ["--vault-id", str(vault_id)]
    extra, left_out = _extra_vars(cli.get("extra_vars"), parse)
    argv += list(cli.get("args") or ["mailops.smtp.rotate"]) + extra
    argv += ["-e", json.dumps({"smtp_rotate_version": str(version), "smtp_rotate_new_credential": "",
                               "smtp_rotate_new_credential_file": ""}, sort_keys=True)]
    return " ".join(shlex.quote(a) for a in argv), left_out


def outcome_message(report):
    """What the end of the run tells the operator, or None when there is nothing to tell."""
    if report["mode"] != "rotate" or report["state"] in ("done", "in_progress"):
        return None
    s = report["summary"]
    parts = []
    if report["stopped"]:
        parts.append("%d of %d host(s) failed, more than smtp_rotate_max_fail_percentage=%s%%: the rollout stopped; "
                     "%d host(s) not reached keep their credential. Failed: %s."
                     % (s["failed"], s["attempted"], report["max_fail_percentage"], s["not_reached"],
                        ", ".join(h["host"] for h in report["hosts"] if h["result"] in ("failed", "unreachable"))))
    if report["unreachable"]:
        parts.append("Could not be reached: %s." % "; ".join(
            "%s (%s)" % (h["host"], h["reason"]) for h in report["hosts"] if h["result"] == "unreachable"))
    if report["finish_command"]:
        parts.append("Vault holds version %s. Do not revoke the old credential. When the hosts are back (and the "
                     "cause fixed), finish the rollout with: %s" % (report["target_version"], report["finish_command"]))
        if report["finish_command_leaves_out"]:
            parts.append("Add again the extra variables left out because they hold a secret: %s."
                         % ", ".join(report["finish_command_leaves_out"]))
    parts.append("See %s and docs/rotation.md, \"If it fails\"." % (report["paths"] or {}).get("markdown", "rotation.md"))
    return " ".join(parts)


def rotate_host_outcome(failed_result, failed_task="?", reach=None, checks=None):
    """How a host whose rollout failed is recorded: unreachable when it cannot be reached now, else failed.

    failed_result is ansible_failed_result, reach the result of a ping run (with ignore_unreachable) after the
    failure. A host that dropped its connection mid-rollout holds an unknown mix of versions: it is
    unreachable, not failed, and the report says so.
    """
    failed_result, reach = _plain(failed_result) or {}, _plain(reach) or {}
    msg = str(failed_result.get("msg") or "failed").strip()
    if reach.get("unreachable") or failed_result.get("unreachable"):
        why = str(reach.get("msg") or msg).strip().splitlines()[0] if (reach.get("msg") or msg) else "no connection"
        return {"result": "unreachable", "reason": "lost during the rollout (%s: %s)" % (failed_task, why),
                "checks": _plain(checks) or []}
    return {"result": "failed", "reason": "%s: %s" % (failed_task, msg), "checks": _plain(checks) or []}
