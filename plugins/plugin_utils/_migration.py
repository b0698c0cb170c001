# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan of mailops.smtp.migrate (issue 21, section 2.2): each application's way through the retirement.

Internal use only. For each application of each host the plan takes its way now (what validate observed on
the host, else the way the inventory declares) and chooses the way it takes after the move:
- an application already on a way that survives the retirement of basic auth is `unchanged`;
- msmtp, and GitLab (its Microsoft Graph mailer), log in with the oauth2 credential themselves (`xoauth2`);
- Postfix goes through the connector when the operator gave the connector's options, else through a relay;
- every other application goes through a relay (`via_relay`): a designated relay host of the inventory
  (a host with smtp_relay_listen addresses, docs/relay.md), else a relay of the smtp_relay role on the host
  itself, on the loopback.

A host whose Postfix would be its own relay runs the smtp_relay role instead of the postfix preset (the
preset cannot relay to itself; docs/relay.md, "Who owns which setting"), so that app leaves the host's
smtp_configure_apps and the relay takes the Postfix over.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time

from ansible_collections.mailops.smtp.plugins.module_utils._presets_via_relay import DEFAULT_RELAY_PORT
from ansible_collections.mailops.smtp.plugins.plugin_utils._configure import describe_app
from ansible_collections.mailops.smtp.plugins.plugin_utils._relay import XOAUTH2_TRANSPORT, RelayError, mailbox_budget
from ansible_collections.mailops.smtp.plugins.plugin_utils._relay_paths import (
    RELAY_LISTEN_VAR, RELAY_OWN_UPSTREAM_VAR, RelayPathError, app_path, own_relay_upstream)

# The ways an application sends (contract 1 of docs/migrate.md): what its files say now.
METHODS = ("basic", "xoauth2", "via_relay", "connector", "none", "unknown")
# The ways the plan moves an application to.
TARGETS = ("xoauth2", "via_relay", "connector", "unchanged")
# The relay upstreams that survive the retirement.
SURVIVING_UPSTREAMS = ("xoauth2", "connector")
# The presets that log in with an oauth2 credential themselves: msmtp with XOAUTH2, GitLab with its Graph mailer.
NATIVE_OAUTH_PRESETS = ("msmtp", "gitlab")
# The inventory's shared relay upstream (the smtp_relay role's default for smtp_relay_upstream).
SHARED_UPSTREAM_VAR = "mailops_smtp_relay_upstream"
# The smtp_relay role's number of connections of the mailbox, shared by every relay on it.
MAILBOX_CONNECTIONS_VAR = "smtp_relay_mailbox_connections"
LOOPBACK_RELAY = "127.0.0.1"
# The path codes of _relay_paths.app_path() as the way an application sends (contract 1's method).
_METHOD_OF_PATH = {
    "direct_basic": "basic",
    "direct_xoauth2": "xoauth2",
    "direct_graph": "xoauth2",
    "direct_connector": "connector",
    "direct_unknown": "unknown",
}
# The login keys a preset in via_relay or connector mode must not keep from the old way.
_LOGIN_SMTP_KEYS = ("mechanism",)


class MigrationError(ValueError):
    """An input the plan cannot use; the message says what to give instead."""


# -- the way an application sends now ----------------------------------------------------------------------

def method_of_path(code):
    """contract 1's method for a path code of the fleet report (direct_basic -> basic, relay_* -> via_relay)."""
    if code and code.startswith("relay_"):
        return "via_relay"
    return _METHOD_OF_PATH.get(code, "unknown")


def upstream_of_path(code):
    """The relay upstream a relay_* path code names (xoauth2, connector, basic), else None."""
    if code and code.startswith("relay_"):
        upstream = code.split("_", 1)[1]
        return upstream if upstream in ("xoauth2", "connector", "basic") else None
    return None


def report_rows(report):
    """{host: [app row, ...]} from a fleet report (report.json); rows in the order of smtp_configure_apps.

    The rows are hosts[].apps[] (issue 21) or, in reports written before it, hosts[].readiness.apps[]."""
    rows = {}
    for entry in (report or {}).get("hosts") or []:
        if not isinstance(entry, dict) or not entry.get("host"):
            continue
        apps = entry.get("apps")
        if not isinstance(apps, list):
            apps = ((entry.get("readiness") or {}).get("apps")) or []
        rows[entry["host"]] = [r if isinstance(r, dict) else {} for r in apps]
    return rows


def way_now(app, row=None, relay_upstream=None):
    """{method, relay_upstream, source, holds_password} of one application now.

    row: the application's row in the before report. Its `observed` (what the host's files say, contract 1)
    wins; without it, the way the inventory declares: the row's path (validate knew the credential type),
    else the path of the app itself with the declared relay upstream (the credential type not known)."""
    row = row or {}
    observed = row.get("observed")
    if isinstance(observed, dict) and observed.get("method") in METHODS:
        return {"method": observed["method"], "relay_upstream": observed.get("relay_upstream"),
                "source": observed.get("source") or "observed",
                "holds_password": observed.get("holds_password")}
    code = row.get("path") or app_path(app, relay_upstream, None)
    method = method_of_path(code)
    return {"method": method, "relay_upstream": upstream_of_path(code), "source": "declared",
            "holds_password": True if method == "basic" else (None if method == "unknown" else False)}


def survives(way):
    """Whether a way now keeps working once basic auth is retired (xoauth2, connector, a relay going on with those)."""
    if way["method"] in ("xoauth2", "connector"):
        return True
    return way["method"] == "via_relay" and way.get("relay_upstream") in SURVIVING_UPSTREAMS


# -- the relays ------------------------------------------------------------------------------------------

def _listen_addresses(listen):
    if isinstance(listen, str):
        return [] if listen in ("", "loopback") else [listen]
    return [str(x) for x in listen or []]


def designated_relays(hostvars, inventory_hosts):
    """The designated relay hosts of the inventory (smtp_relay_listen addresses), in inventory order.

    [{host, address, port, upstream}]: address is the first listen address (where applications send),
    upstream the relay's own (smtp_relay_upstream, else mailops_smtp_relay_upstream, else None)."""
    relays = []
    for name in inventory_hosts or []:
        hv = hostvars.get(name) or {}
        addresses = _listen_addresses(hv.get(RELAY_LISTEN_VAR))
        if not addresses:
            continue
        upstream = hv.get(RELAY_OWN_UPSTREAM_VAR) or hv.get(SHARED_UPSTREAM_VAR) or None
        relays.append({"host": name, "address": addresses[0], "port": DEFAULT_RELAY_PORT, "upstream": upstream})
    return relays


def choose_relay(choice, relays, host):
    """The relay a host's applications send through: {host, port, designated, relay_host} or an error text.

    choice (smtp_migrate_relay): auto (the first designated relay of the inventory, else one on the host),
    local (always one on the host) or the inventory name of a designated relay host."""
    choice = choice or "auto"
    # A designated relay host's own applications use its own relay.
    if choice == "local" or host in [r["host"] for r in relays]:
        return _local_relay(), None
    if choice == "auto":
        return (_remote_relay(relays[0]) if relays else _local_relay()), None
    named = [r for r in relays if r["host"] == choice]
    if not named:
        return None, ("smtp_migrate_relay names %s, which is not a designated relay host of the inventory "
                      "(a host with smtp_relay_listen addresses): give one, or auto or local" % choice)
    return _remote_relay(named[0]), None


def _local_relay():
    return {"host": LOOPBACK_RELAY, "port": DEFAULT_RELAY_PORT, "designated": False, "relay_host": None}


def _remote_relay(relay):
    return {"host": relay["address"], "port": relay["port"], "designated": True, "relay_host": relay["host"]}


# -- the new configure app of one application ------------------------------------------------------------

def _without_login(app):
    """The app dict without the login settings of the old way (an explicit smtp.mechanism)."""
    new = copy.deepcopy(app)
    smtp = new.get("smtp")
    if isinstance(smtp, dict):
        for key in _LOGIN_SMTP_KEYS:
            smtp.pop(key, None)
        if not smtp:
            new.pop("smtp")
    return new


def _with_options(app, options):
    new = _without_login(app)
    opts = dict(new.get("options") or {})
    for key in ("mode", "relay_host", "relay_port"):
        opts.pop(key, None)
    opts.update(options)
    if opts:
        new["options"] = opts
    else:
        new.pop("options", None)
    return new


def app_to_native(app):
    """msmtp / GitLab: the app logs in itself with the oauth2 credential (XOAUTH2, Graph)."""
    return _with_options(app, {})


def app_to_relay(app, relay):
    opts = {"mode": "via_relay"}
    if relay["designated"]:
        opts.update({"relay_host": relay["host"], "relay_port": relay["port"]})
    return _with_options(app, opts)


def app_to_connector(app, connector):
    opts = {"mode": "connector"}
    opts.update(connector)
    return _with_options(app, opts)


# -- the plan of one application and one host ------------------------------------------------------------

def _blocked(code, text):
    return {"code": code, "text": text}


def plan_app(app, way, kind, host, ctx):
    """(entry, new configure app or None, whether the host's Postfix becomes its own relay).

    ctx: {relay (choose_relay's answer or None), relay_error, connector (options or {})}."""
    entry = {"from": way["method"], "from_source": way["source"], "relay": None, "blocked": None}
    if way["method"] == "unknown" and way["source"] != "declared":
        entry.update(to="unchanged", blocked=_blocked(
            "unreadable", "its file could not be read, so its way is not known: give migrate become on this host "
            "(or fix the file's owner) and run it again"))
        # Left out of the configure run: it would write the oauth2 credential into a file whose way is unknown.
        return entry, None, False
    if survives(way):
        entry.update(to="unchanged")
        return entry, app, False
    if kind in NATIVE_OAUTH_PRESETS:
        entry.update(to="xoauth2")
        return entry, app_to_native(app), False
    if kind == "postfix" and ctx["connector"]:
        entry.update(to="connector")
        return entry, app_to_connector(app, ctx["connector"]), False
    if way["method"] == "via_relay" and way.get("relay_upstream") in (None, "basic"):
        return _relay_upstream_entry(entry, app, way, host, ctx)
    if ctx["relay"] is None:
        entry.update(to="unchanged", blocked=_blocked("no_relay", ctx["relay_error"]))
        # Left out of the configure run: it stays on its password, which the oauth2 credential cannot write.
        return entry, None, False
    relay = ctx["relay"]
    entry.update(to="via_relay", relay={"host": relay["host"], "port": relay["port"],
                                        "designated": relay["designated"]})
    if kind == "postfix" and not relay["designated"]:
        # This Postfix is the relay itself: the smtp_relay role takes it over, the preset leaves the host.
        entry["note"] = "the host's relay (smtp_relay) takes this Postfix over"
        return entry, None, True
    # A relay on the loopback is one the host must run.
    return entry, app_to_relay(app, relay), not relay["designated"]


def _relay_upstream_entry(entry, app, way, host, ctx):
    """An app already through a relay whose upstream is basic (or not known): its files stay, its relay moves.

    On the host's own relay (loopback) the plan runs the relay here; a designated relay moves in its own plan."""
    opts = app.get("options") or {}
    if opts.get("mode") == "via_relay":
        host, port = opts.get("relay_host") or LOOPBACK_RELAY, int(opts.get("relay_port") or DEFAULT_RELAY_PORT)
        remote = host not in (LOOPBACK_RELAY, "localhost")
    else:
        # The inventory still declares the app's old way, so an earlier migration moved it: through the relay
        # this plan chooses for the host (a designated one, or the host's own).
        relay = ctx["relay"] or _local_relay()
        host, port, remote = relay["host"], relay["port"], relay["designated"]
    entry.update(to="unchanged", relay={"host": host, "port": port, "designated": remote})
    if remote:
        entry["note"] = "its designated relay moves to the xoauth2 upstream in that host's own plan"
        return entry, app, False
    entry["note"] = "its relay on this host moves to the xoauth2 upstream"
    return entry, app, True


def relay_vars(listen=None):
    """The smtp_relay role's variables for a relay the plan runs (the credential is the migrate input)."""
    return {"smtp_relay_upstream": "xoauth2", "smtp_relay_listen": listen or "loopback"}


def plan_host(host, apps, rows, hostvars_host, ctx, endpoint="m365"):
    """contract 2's smtp_migrate__plan of one host."""
    if apps is not None and not isinstance(apps, list):
        raise MigrationError("%s: smtp_configure_apps must be a list of applications" % host)
    shared = hostvars_host.get(SHARED_UPSTREAM_VAR)
    explicit = hostvars_host.get(RELAY_OWN_UPSTREAM_VAR)
    listen = hostvars_host.get(RELAY_LISTEN_VAR)
    try:
        own_upstream = own_relay_upstream(apps or [], shared, listen, explicit)
    except RelayPathError as exc:
        raise MigrationError("%s: %s" % (host, exc))
    entries, configure_apps, report_apps, taken_over, needs_relay = [], [], [], [], False
    for index, app in enumerate(apps or []):
        if not isinstance(app, dict):
            app = {"preset": str(app)}
        described = describe_app(app, endpoint, "oauth2")
        row = rows[index] if index < len(rows) else {}
        way = way_now(app, row, shared)
        entry, new_app, own_relay = plan_app(app, way, described["kind"], host, ctx)
        entry = dict({"name": described["name"], "preset": app.get("preset")}, **entry)
        entries.append(entry)
        if new_app is not None:
            configure_apps.append(new_app)
        elif entry["to"] == "via_relay":
            taken_over.append(app)
        report_apps.append(_report_app(app, new_app, entry))
        needs_relay = needs_relay or own_relay
    designated = bool(_listen_addresses(listen))
    # own_upstream is the upstream the relay of this host is known to run: declared (smtp_relay_upstream), or
    # seen by the before phase (Postfix's transport, migrate_relay_running). A designated relay host not known
    # to run one on a surviving upstream (none yet, or basic) gets its relay in its own plan; the other hosts'
    # applications send through it, so it moves first (canary()).
    if designated and own_upstream not in SURVIVING_UPSTREAMS:
        needs_relay = True
    relay = relay_vars(listen if designated else None) if needs_relay and own_upstream not in SURVIVING_UPSTREAMS else None
    changes = any(e["to"] != "unchanged" for e in entries) or relay is not None
    # The apps the move proves: those the configure run writes, and a Postfix the host's relay takes over (it
    # leaves configure_apps, but still sends: through that relay).
    return {"host": host, "changes": changes, "apps": entries, "configure_apps": configure_apps, "relay": relay,
            "report_apps": report_apps, "proof_apps": configure_apps + taken_over}


def _report_app(app, new_app, entry):
    """The app as the after fleet report must see it, in the order of smtp_configure_apps: the new app, or
    for a Postfix the relay took over, a Postfix through that relay (its path is relay -> the relay's upstream)."""
    if new_app is not None:
        return new_app
    if entry["to"] == "via_relay":
        return dict(app, options={"mode": "via_relay"})
    return app


def plan_fleet(hostvars, hosts, report=None, relay_choice="auto", connector=None, endpoint="m365",
               inventory_hosts=None):
    """{host: plan} for the hosts of the run; hostvars: {host: its variables} (Ansible's hostvars).

    report: the before fleet report (report.json as a dict), for each app's way now; relay_choice:
    smtp_migrate_relay; connector: smtp_migrate_connector (a host's own smtp_migrate_connector wins);
    inventory_hosts: every host of the inventory, where designated relays are looked for (default hosts)."""
    if relay_choice not in (None, "", "auto", "local") and not isinstance(relay_choice, str):
        raise MigrationError("smtp_migrate_relay must be auto, local or an inventory host name")
    relays = designated_relays(hostvars, inventory_hosts or hosts)
    rows = report_rows(report)
    plans = {}
    for host in hosts:
        hv = hostvars.get(host) or {}
        relay, error = choose_relay(relay_choice, relays, host)
        conn = hv.get("smtp_migrate_connector", connector) or {}
        if not isinstance(conn, dict):
            raise MigrationError("%s: smtp_migrate_connector must be a dict of the postfix preset's connector "
                                 "options (tenant, client_cert, client_key), or empty" % host)
        ctx = {"relay": relay, "relay_error": error, "connector": conn}
        plans[host] = plan_host(host, hv.get("smtp_configure_apps"), rows.get(host, []), hv, ctx, endpoint)
        # Where the move reads the verdict of a proof through a designated relay: that relay host's log.
        plans[host]["relay_hosts"] = dict((r["address"], r["host"]) for r in relays)
    _count_relays(plans, hostvars)
    return plans


def _count_relays(plans, hostvars):
    """Every relay the plan runs shares the oauth2 credential's mailbox: each says how many share it.

    Each relay needs one of the mailbox's connections: a plan with more relays than that would stop in the
    relay role of the canary, after its files were saved. It is refused here, before anything is locked
    for a move, with what to do instead."""
    running = sorted(h for h, p in plans.items() if p["relay"] is not None)
    for h in running:
        plans[h]["relay"]["smtp_relay_mailbox_relays"] = len(running)
    for h in running:
        given = (hostvars.get(h) or {}).get(MAILBOX_CONNECTIONS_VAR)
        try:
            # The relay role's own check, with its own default number of connections.
            mailbox_budget(**({"connections": given} if given is not None else {}), relays=len(running))
        except RelayError as exc:
            raise MigrationError(
                "the plan runs a relay on each of %d hosts (%s), all on the mailbox of smtp_migrate_vault: %s"
                % (len(running), ", ".join(running), exc))


def running_relay_upstream(default_transport):
    """The upstream of the smtp_relay relay a host's Postfix runs, from its default_transport (postconf -h), or
    None. A rerun after the move finds the relays it set up here: the inventory names none of them, and without
    it the applications' files (via_relay, no upstream in their marker) would look like a relay still to move."""
    transport = str(default_transport or "").strip().split(":", 1)[0]
    return "xoauth2" if transport == XOAUTH2_TRANSPORT else None


def canary(plans, hosts):
    """The canary host: the first host with changes, a designated relay that moves before any other."""
    changing = [h for h in hosts if plans.get(h, {}).get("changes")]
    relays = [h for h in changing if plans[h]["relay"] and plans[h]["relay"]["smtp_relay_listen"] != "loopback"]
    return (relays or changing or [None])[0]


# -- the plan as a table ---------------------------------------------------------------------------------

def _to_text(entry):
    if entry["blocked"]:
        return "blocked (%s)" % entry["blocked"]["code"]
    if entry["to"] == "via_relay":
        r = entry["relay"]
        return "via_relay %s:%s%s" % (r["host"], r["port"], " (designated)" if r["designated"] else "")
    return entry["to"]


def plan_rows(plans, hosts):
    """[(host, app, from, to, note)] for the table, in host and app order."""
    out = []
    for host in hosts:
        plan = plans.get(host)
        if plan is None:
            continue
        if not plan["apps"]:
            out.append((host, "-", "-", "unchanged", "no application"))
        for e in plan["apps"]:
            note = e["blocked"]["text"] if e["blocked"] else e.get("note") or ""
            out.append((host, e["name"], e["from"], _to_text(e), note))
        if plan["relay"]:
            listen = plan["relay"]["smtp_relay_listen"]
            out.append((host, "(relay)", "-", "smtp_relay upstream xoauth2, listen %s" % listen, ""))
    return out


def plan_table(plans, hosts):
    """The plan as a Markdown table (the console shows it line by line, the report embeds it)."""
    lines = ["| host | application | now | after | note |", "| --- | --- | --- | --- | --- |"]
    for row in plan_rows(plans, hosts):
        lines.append("| %s |" % " | ".join(str(c).replace("|", "\\|") for c in row))
    return "\n".join(lines)


# -- the migration report --------------------------------------------------------------------------------

REPORT_SCHEMA_VERSION = 1
# smtp_migrate__moved's status (contract 3), and what the report says of a host without one.
MOVE_STATUSES = ("moved", "unchanged", "restored", "restore_failed")
_FAILED_STATUSES = ("restored", "restore_failed", "failed", "unreachable")


# A preset whose path is a directory keeps the password in one file of it (Postfix: its SASL map).
_PASSWORD_FILE_IN_DIR = {"postfix": "sasl_passwd"}


def _password_path(preset, path):
    """The file of an app that holds its password: its path, or for Postfix the SASL map in its directory."""
    from ansible_collections.mailops.smtp.plugins.module_utils._presets import PRESETS
    path = path or (PRESETS.get(preset) or {}).get("path")
    if path and preset in _PASSWORD_FILE_IN_DIR:
        return "%s/%s" % (path.rstrip("/"), _PASSWORD_FILE_IN_DIR[preset])
    return path


def _way_after(row, entry, status):
    """(way, source) of an app after the run: what the after report observed, else what the move says."""
    observed = (row or {}).get("observed")
    if isinstance(observed, dict) and observed.get("method") in METHODS:
        return dict(observed), "observed"
    if row and row.get("path"):
        return {"method": method_of_path(row["path"]), "relay_upstream": upstream_of_path(row["path"]),
                "holds_password": method_of_path(row["path"]) == "basic"}, "declared"
    if entry is None or status not in MOVE_STATUSES:
        return None, None
    moved = status in ("moved", "unchanged") and not entry.get("blocked")
    method = entry["to"] if moved and entry["to"] != "unchanged" else entry["from"]
    return {"method": method, "relay_upstream": "xoauth2" if method == "via_relay" and moved else None,
            "holds_password": method == "basic"}, "plan"


def host_status(host, plan, moved, unreachable, check_mode):
    """One host's outcome: planned (check mode), a move status (contract 3), failed, unreachable or not_run."""
    if host in unreachable:
        return "unreachable"
    if isinstance(moved, dict) and moved.get("status") in MOVE_STATUSES:
        return moved["status"]
    if isinstance(moved, dict) and moved.get("unreachable"):
        return "unreachable"
    if isinstance(moved, dict) and moved.get("failed"):
        return "failed"
    if plan is None:
        return "not_run"
    if check_mode:
        return "planned"
    return "not_run"


def _proofs(moved):
    return dict((a.get("name"), a.get("proof")) for a in ((moved or {}).get("apps") or []) if isinstance(a, dict))


def proof_spans(moved):
    """[(started_at, waited_s)] of the proofs of a host's move (send_proof's), in the order they ran: a proof
    decided by a designated relay's log has two (its send, and the batch's read of the log)."""
    out = []
    for a in (moved or {}).get("apps") or []:
        proof = a.get("proof") if isinstance(a, dict) else None
        if not isinstance(proof, dict) or proof.get("waited_s") is None:
            continue
        spans = proof.get("wait_spans") or [(proof.get("started_at"), proof["waited_s"])]
        out.extend((float(start or 0.0), float(length)) for start, length in spans)
    return out


def host_timings(moved):
    """What the move of one host spent waiting: its proofs (the server's answers, the relay's log). Migrate
    paces nothing itself (no pause between hosts or batches; a relay's rate delay falls inside its proof's
    wait), so pacing_wait_s is 0; it is named so that a pacing step added later is reported beside it."""
    return {"proof_wait_s": round(sum(w for _s, w in proof_spans(moved)), 3), "pacing_wait_s": 0.0}


def wall_seconds(spans):
    """The seconds of wall-clock time covered by at least one of the spans [(start, length)]: hosts of one
    batch prove at the same time, and their waits overlap."""
    total, end = 0.0, None
    for start, length in sorted(spans):
        stop = start + length
        if end is None or start >= end:
            total += length
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return round(total, 3)


def fleet_timings(hosts, moved):
    """migration.json's timings: the proof waits of every host summed, and as wall-clock time (the part of the
    run's own time that was spent waiting for proofs, with the waits of hosts moved together counted once)."""
    spans = [s for h in hosts for s in proof_spans((moved or {}).get(h))]
    return {"proof_wait_s": round(sum(w for _s, w in spans), 3), "proof_wait_wall_s": wall_seconds(spans),
            "pacing_wait_s": 0.0}


def _holds_password(before, after):
    """Whether the app's file still holds a password after the run: as observed after, or, when that could not
    be told (no after way, or a file that could not be read, as on a host lost during its move), as before."""
    if after and after.get("holds_password") is not None:
        return bool(after["holds_password"])
    return before["method"] == "basic"


def report_host(host, plan, moved, before_rows, after_rows, apps, status):
    """The report entry of one host: each app before and after side by side, with its proof."""
    proofs = _proofs(moved)
    entries = (plan or {}).get("apps") or []
    out_apps = []
    for index, app in enumerate(apps or []):
        app = app if isinstance(app, dict) else {"preset": str(app)}
        entry = entries[index] if index < len(entries) else None
        before_row = before_rows[index] if index < len(before_rows) else {}
        after_row = after_rows[index] if index < len(after_rows) else {}
        name = entry["name"] if entry else describe_app(app, "m365", "oauth2")["name"]
        before = way_now(app, before_row) if before_row or entry is None else {
            "method": entry["from"], "relay_upstream": None, "source": entry["from_source"]}
        after, after_source = _way_after(after_row, entry, status)
        proof = proofs.get(name)
        out_apps.append({
            "name": name, "preset": app.get("preset"),
            "path": _password_path(app.get("preset"), app.get("path")),
            "before": before["method"], "before_relay_upstream": before.get("relay_upstream"),
            "planned": entry["to"] if entry else None, "blocked": entry["blocked"] if entry else None,
            "after": after["method"] if after else None, "after_source": after_source,
            "holds_password": _holds_password(before, after),
            "proof_kind": (proof or {}).get("kind"), "proof_accepted": (proof or {}).get("accepted"),
            "proof_reply": (proof or {}).get("reply"), "proof_diagnosis": (proof or {}).get("diagnosis"),
            # The Message-ID of the proof: the message to look for at Microsoft 365 (message trace).
            "proof_message_id": (proof or {}).get("message_id"),
        })
    return {"host": host, "status": status, "changes": (plan or {}).get("changes"),
            "relay": (plan or {}).get("relay"), "configure_apps": (plan or {}).get("configure_apps"),
            "message": (moved or {}).get("message") or (moved or {}).get("msg"),
            "restored_files": (moved or {}).get("restored_files") or [], "apps": out_apps,
            # A saved copy of the host's previous files left on it (the old passwords are in it).
            "saved_copies": (moved or {}).get("saved_copies") or [],
            "lost_after_move": bool((moved or {}).get("lost_after_move")),
            "timings": host_timings(moved)}


def password_files(hosts):
    """[{host, app, path}] of the files that still hold a password after the run."""
    return [{"host": h["host"], "app": a["name"], "path": a["path"]}
            for h in hosts for a in h["apps"] if a["holds_password"]]


def retirable_credentials(hosts, credentials):
    """The Vault paths of basic credentials that no host of the run uses any more (the operator retires them).

    credentials: {host: "mount/path" of the host's mailops_smtp_vault before the run}. A path is basic when an
    app of a host using it was on basic before; it is still used while one of those hosts did not finish
    (not moved, not unchanged) or still has an app on basic or holding a password."""
    users = {}
    for h in hosts:
        where = (credentials or {}).get(h["host"])
        if where:
            users.setdefault(where, []).append(h)
    out = []
    for where in sorted(users):
        hs = users[where]
        basic = any(a["before"] == "basic" or a.get("before_relay_upstream") == "basic" for h in hs for a in h["apps"])
        done = all(h["status"] in ("moved", "unchanged") for h in hs)
        still = any(a["holds_password"] or a["after"] == "basic" for h in hs for a in h["apps"])
        if basic and done and not still:
            out.append(where)
    return out


def _unfinished_state(hosts):
    """unreachable when every host that did not finish was lost or could not be reached (bring them back and
    run again), else stopped."""
    return "unreachable" if all(h["status"] == "unreachable" or h.get("lost_after_move") for h in hosts) else "stopped"


def _copies_left(hosts):
    """The sentence on the saved copies left on hosts (the old passwords are in them), or ''."""
    left = [h["host"] for h in hosts if h.get("saved_copies")]
    if not left:
        return ""
    return ("%s still hold%s a saved copy of previous files with the old passwords: %s entry says why and the "
            "command that deletes it." % (", ".join(left), "s" if len(left) == 1 else "",
                                          "its" if len(left) == 1 else "each one's"))


def outcome(hosts, stop_message=None, check_mode=False, attempted=True, lost=()):
    """(state, message): planned (--check, or tags that move nothing), done, stopped (a failure, the
    threshold), unreachable. attempted: whether the run moved (or tried to move) any host; lost: the hosts
    lost during their move (their files may be part-way moved: the others keep theirs).

    A host that moved (or had nothing to move) but holds a saved copy of its previous files (lost after its
    proofs, or a copy an earlier lost move left) is not a clean finish either: it counts with the hosts that
    did not move for the state (as lost: unreachable), and the message names it."""
    copies = _copies_left(hosts)
    if stop_message:
        state = "unreachable" if any(h["status"] == "unreachable" for h in hosts) else "stopped"
        return state, " ".join(m for m in (stop_message, copies) if m)
    if check_mode or not attempted:
        return "planned", None
    failed = [h["host"] for h in hosts if h["status"] in _FAILED_STATUSES or h["status"] == "not_run"]
    if failed:
        state = _unfinished_state([h for h in hosts if h["host"] in failed or h.get("saved_copies")])
        named = ", ".join("%s (%s)" % (h["host"], h["status"]) for h in hosts if h["host"] in failed)
        lost = [h for h in lost if h in failed]
        keep = ("Each keeps its previous files" if not lost else
                "Each keeps its previous files but %s, lost during its move: its files may be part-way moved, and "
                "its entry says how to put them back" % ", ".join(lost))
        return state, " ".join(m for m in (
            "%d host(s) did not move: %s. %s; the report says why. Fix the cause and run the same command again: "
            "the hosts already moved change nothing." % (len(failed), named, keep), copies) if m)
    if copies:
        return (_unfinished_state([h for h in hosts if h.get("saved_copies")]),
                "Every host moved or had nothing to move. " + copies)
    return "done", None


def migration_report(hosts, plans, moved, apps, before_report=None, after_report=None, unreachable=None,
                     credentials=None, new_credential=None, check_mode=False, stop_message=None,
                     generated_at=None, paths=None):
    """migration.json: every host and app before and after side by side, proofs, leftovers; no secret.

    hosts: the run's hosts in play order; plans/moved/apps/credentials: {host: ...} (smtp_migrate__plan,
    smtp_migrate__moved, smtp_configure_apps, the host's credential path); before_report/after_report:
    the fleet reports (report.json dicts) of the before and after phases."""
    unreachable = list(unreachable or [])
    before_rows, after_rows = report_rows(before_report), report_rows(after_report)
    entries = []
    for host in hosts:
        plan, mv = (plans or {}).get(host), (moved or {}).get(host)
        status = host_status(host, plan, mv, unreachable, check_mode)
        entries.append(report_host(host, plan, mv, before_rows.get(host, []), after_rows.get(host, []),
                                   (apps or {}).get(host), status))
    # --tags before, or plan without --check, moves nothing: that is not a host that failed to move.
    attempted = any(isinstance((moved or {}).get(h), dict) for h in hosts)
    lost = [h for h in hosts if h not in unreachable and ((moved or {}).get(h) or {}).get("unreachable")]
    state, message = outcome(entries, stop_message, check_mode, attempted, lost)
    planned = dict((h, p) for h, p in (plans or {}).items() if p is not None)
    counts = {}
    for e in entries:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": "SMTP migration off basic auth",
        "generated_at": generated_at,
        "state": state,
        "message": message,
        "check_mode": bool(check_mode),
        "credential": new_credential,
        "counts": counts,
        "plan_table": plan_table(planned, [h for h in hosts if h in planned]) if planned else None,
        "hosts": entries,
        "password_files": password_files(entries),
        "retirable_credentials": retirable_credentials(entries, credentials),
        "timings": fleet_timings(hosts, moved),
        "paths": paths or {},
    }


def report_markdown(report):
    """migration.md: the same findings for a person."""
    lines = ["# %s" % report["title"], "",
             "- state: **%s**%s" % (report["state"], " (--check: nothing was changed)" if report["check_mode"] else ""),
             "- generated at: %s" % (report["generated_at"] or "?"),
             "- credential moved to: %s" % (report["credential"] or "?"),
             "- hosts: %s" % (", ".join("%s %d" % kv for kv in sorted(report["counts"].items())) or "none")]
    if report["message"]:
        lines += ["", "**%s**" % report["message"]]
    if report["plan_table"]:
        lines += ["", "## The plan", "", report["plan_table"]]
    lines += ["", "## Before and after", "",
              "| host | status | application | before | planned | after | proof | accepted | holds a password |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for h in report["hosts"]:
        for a in h["apps"] or [{}]:
            cells = [h["host"], h["status"], a.get("name", "-"), a.get("before") or "-",
                     (("blocked: " + a["blocked"]["code"]) if a.get("blocked") else a.get("planned")) or "-",
                     a.get("after") or "-", a.get("proof_kind") or "-",
                     {True: "yes", False: "no"}.get(a.get("proof_accepted"), "-"),
                     "yes" if a.get("holds_password") else "no"]
            lines.append("| %s |" % " | ".join(str(c).replace("|", "\\|") for c in cells))
    diagnosed = [h for h in report["hosts"] if h["message"]]
    if diagnosed:
        lines += ["", "## Why hosts did not move, and saved copies left on hosts", ""]
        lines += ["- %s (%s): %s" % (h["host"], h["status"], h["message"]) for h in diagnosed]
    lines += ["", "## Files that still hold a password", ""]
    lines += ["- %s: %s (%s)" % (f["host"], f["path"] or "?", f["app"]) for f in report["password_files"]] or ["none"]
    lines += ["", "## Basic credentials no host uses any more (retire them in Vault; migrate deletes none)", ""]
    lines += ["- %s" % p for p in report["retirable_credentials"]] or ["none"]
    return "\n".join(lines) + "\n"


# -- what the playbook hands over (Ansible's lazy hostvars made plain) -------------------------------------

_PLAN_VARS = ("smtp_configure_apps", "smtp_migrate_connector", RELAY_LISTEN_VAR, RELAY_OWN_UPSTREAM_VAR,
              SHARED_UPSTREAM_VAR, MAILBOX_CONNECTIONS_VAR)


def plain(value):
    """A JSON round trip: plain dicts, lists and strings from Ansible's lazy containers."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def parse_report(text):
    """A report.json given as text (slurped), a dict, or nothing: a dict or None."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", "replace")
    if isinstance(text, str):
        try:
            text = json.loads(text) if text.strip() else None
        except ValueError:
            return None
    return text if isinstance(text, dict) else None


def host_inputs(hostvars, hosts, keys):
    """{host: {key: value}} of the keys each host has, read once (each read templates the value)."""
    out = {}
    for host in hosts or []:
        hv = hostvars[host] if host in hostvars else {}
        out[host] = dict((k, plain(hv[k])) for k in keys if k in hv)
    return out


def credential_where(vault):
    """"mount/path" of a credential's Vault options (mailops_smtp_vault), or None."""
    if not isinstance(vault, dict) or not vault.get("path"):
        return None
    return "%s/%s" % (vault.get("mount") or "secret", vault["path"])


def batch_stopped(moved, attempted, max_fail_percentage, canary=None):
    """(stop, failed hosts): whether the batches stop: the canary failed, or more of the hosts attempted so far
    failed than smtp_migrate_max_fail_percentage.

    moved: {host: smtp_migrate__moved or a failed result}; a host without a moved or unchanged status failed."""
    attempted = list(attempted or [])
    failed = [h for h in attempted if ((moved or {}).get(h) or {}).get("status") not in ("moved", "unchanged")]
    if canary in failed:
        return True, failed
    if not attempted:
        return False, failed
    return 100.0 * len(failed) / len(attempted) > float(max_fail_percentage or 0), failed


def reach(results, action="stop", check_mode=False):
    """The hosts migrate cannot reach, and whether it stops: the rotation's rule (rotate_reach), migrate's words.

    results: {host: the registered ping, with ignore_unreachable and ignore_errors}. --check always goes on."""
    from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation_report import rotate_reach
    try:
        out = rotate_reach(results, "", action, "report" if check_mode else "rotate")
    except ValueError:
        raise MigrationError("smtp_migrate_unreachable must be stop or skip, not %r" % (action,))
    out.pop("last_known", None)
    out.pop("previous_generated_at", None)
    if out["stop"]:
        named = ", ".join("%s (%s)" % (h, out["reasons"][h]) for h in out["unreachable"])
        out["message"] = (
            "%d host(s) cannot be reached: %s. The run stopped before the canary: no file was written on any host "
            "(smtp_migrate_unreachable=stop). Bring them back and run the same command again, or add "
            "-e smtp_migrate_unreachable=skip to move the others now; the report lists them, and a later run moves "
            "them." % (len(out["unreachable"]), named))
    return out


def credentials_to_lock(host_vaults, new_vault):
    """The Vault options of every credential the run reads or changes, each once: the hosts' credentials
    (mailops_smtp_vault, in host order), then the one moved to (smtp_migrate_vault). Locks are per credential."""
    out, seen = [], set()
    for vault in list(host_vaults or []) + [new_vault]:
        where = credential_where(vault)
        if where and where not in seen:
            seen.add(where)
            out.append(vault)
    return out


# A renewal is due once this share of the TTL has passed since the take or the last renewal: the locks then
# always keep at least three quarters of their TTL for the next batch, and a batch of a few seconds does not
# cost a Vault write per credential.
RENEW_AFTER_SHARE = 0.25


def lock_renewal(last_at, ttl, now=None):
    """{due, now}: whether the fleet locks taken or renewed at last_at (seconds since the epoch; None: never)
    are due for renewal with this ttl, and the time of this decision (to note when they are renewed)."""
    now = time.time() if now is None else float(now)
    try:
        due = last_at in (None, "") or now - float(last_at) >= float(ttl) * RENEW_AFTER_SHARE
    except (TypeError, ValueError):
        due = True
    return {"due": bool(due), "now": round(now, 3)}
