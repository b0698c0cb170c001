# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secret files mailops.smtp wrote for a mode that an application no longer uses.

Internal use only. Two things are left behind when a mode changes:

- postfix_sasl_map: Postfix moved to connector or via_relay mode keeps its SASL map (`sasl_passwd` and the
  compiled `.db`, `.lmdb` or `.cdb`), which holds the mailbox password;
- xoauth2_refresher: msmtp that stopped using XOAUTH2 (a password, or via_relay mode) keeps the token refresher's
  `<account>.oauth.json` (the client secret), the token, and its cron entry or systemd timer;
- relay_refresher: a relay of the smtp_relay role moved off the xoauth2 upstream keeps the same refresher's
  `relay.oauth.json`, the token and its cron entry.

The rule for removing a file: mailops.smtp must be able to show it wrote it. The SASL map carries
the drift marker; its compiled map goes with it. The refresher's credential carries the JSON
sidecar marker; its token is the one our refresher entry names (`--token-file`), or one beside the
expiry file our refresher writes; its cron file and units are ours by name and by the refresher they
run. Anything else is kept, and reported as kept with the reason. Removal never prints content.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shlex

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic, _marker
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import split_lines, to_entries
from ansible_collections.mailops.smtp.plugins.module_utils._formats_postfix import MainCfFormat, SaslMapFormat
from ansible_collections.mailops.smtp.plugins.module_utils._presets import DB_SUFFIX, PRESETS

KINDS = ("postfix_sasl_map", "xoauth2_refresher", "relay_refresher")
SASL_MAP = "sasl_passwd"
# The parameter of main.cf that the connector preset deletes: it no longer counts as a use.
OWNED_REFERENCE = "smtp_sasl_password_maps"

# Where smtp_configure installs the refresher (roles/smtp_configure/tasks/refresher.yml and its
# defaults); tests/unit checks that the role uses the same names.
REFRESHER_CONFIG_DIR = "/etc/mailops-smtp"
TOKEN_DIR = "/var/lib/mailops-smtp"
CRON_DIR = "/etc/cron.d"
SYSTEMD_DIR = "/etc/systemd/system"
SYSTEMD_RUNNING = "/run/systemd/system"
UNIT_PREFIX = "mailops-smtp-token-"
CRON_NAME = "mailops.smtp XOAUTH2 token for msmtp account %s"
REFRESHER_SCRIPT = "refresh-token"
# The smtp_relay role's refresher (roles/smtp_relay/tasks/xoauth2.yml and its defaults): one per host,
# with a cron file and entry name of its own and the credential file relay.oauth.json.
RELAY_ACCOUNT = "relay"
RELAY_CRON_FILE = "mailops-smtp-relay-token"
RELAY_CRON_NAME = "mailops.smtp XOAUTH2 token of the relay"
UNIT_TAG = "(mailops.smtp)"
# The expiry file the refresher writes beside each token (refresh-token, meta_path()).
TOKEN_META_SUFFIX = ".json"
TOKEN_META_KEYS = {"expires_at", "renewed_at"}


class LeftoverError(Exception):
    """A file could not be inspected or removed; the message names it and says what to do."""


class Found(object):
    """A file to remove: its path, what it is, and the credential its marker records (never content)."""

    def __init__(self, path, what, secret, marker=None):
        self.path = path
        self.what = what
        self.secret = secret
        self.marker = marker or {}

    def as_dict(self):
        return {"path": self.path, "what": self.what, "secret": self.secret,
                "credential": self.marker.get("credential"), "version": self.marker.get("version")}


class Plan(object):
    """What one `unused` item leaves: files to remove in order, files kept (with why), units to stop."""

    def __init__(self):
        self.remove = []
        self.kept = []
        self.stop_units = []
        self.warnings = []

    def keep(self, path, reason, warn=False):
        self.kept.append({"path": path, "reason": reason})
        if warn:
            self.warnings.append("kept %s: %s" % (path, reason))


def _read_text(path):
    """The file's text, or None when it is absent; a non-regular file is refused."""
    try:
        kind = _atomic.file_kind(path)
    except _atomic.AtomicError as e:
        raise LeftoverError(str(e))
    if kind == "absent":
        return None
    if kind != "regular":
        raise LeftoverError("%s is %s, not a regular file; mailops.smtp never writes one there. Look at it "
                            "and remove it yourself if it holds a secret." % (path, kind))
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError) as e:
        raise LeftoverError("cannot read %s: %s (become: true?)" % (path, e.strerror))


def _exists(path):
    return os.path.lexists(path)


# ---- Postfix: the SASL map of an instance in connector mode ---------------------------------------

def _map_references(config_dir, map_path):
    """The main.cf parameters and master.cf lines that still name the map, other than the one we own."""
    found = []
    main = _read_text(os.path.join(config_dir, "main.cf")) or ""
    names = (map_path, "$config_directory/" + SASL_MAP, "${config_directory}/" + SASL_MAP)
    fmt = MainCfFormat()
    for entry in to_entries(fmt, main):
        key = fmt.key_of(entry.text)
        if key and key != OWNED_REFERENCE and any(n in entry.text for n in names):
            found.append("main.cf parameter %s" % key)
    master = _read_text(os.path.join(config_dir, "master.cf")) or ""
    for number, line in enumerate(split_lines(master), 1):
        if not line.lstrip().startswith("#") and any(name in line for name in names):
            found.append("master.cf line %d" % number)
    return found


def _map_entries(text):
    fmt = SaslMapFormat()
    return [fmt.key_of(line) for line in split_lines(text) if fmt.key_of(line)]


def plan_postfix_sasl_map(config_dir):
    """The SASL map of the Postfix instance in config_dir, which connector mode no longer reads."""
    plan = Plan()
    src = os.path.join(config_dir, SASL_MAP)
    dbs = [src + s for s in sorted(set(DB_SUFFIX.values())) if _exists(src + s)]
    text = _read_text(src)
    if text is None:
        for db in dbs:
            plan.keep(db, "its source %s is gone, so nothing shows mailops.smtp wrote it; remove it yourself "
                          "if no Postfix parameter names it" % src)
        return plan
    marker = _marker.parse(text)
    if marker is None:
        for path in [src] + dbs:
            plan.keep(path, "not written by mailops.smtp (%s has no drift marker)" % src)
        return plan
    entries = _map_entries(text)
    if len(entries) > 1:
        for path in [src] + dbs:
            plan.keep(path, "%s holds %d entries and mailops.smtp wrote only one of them; delete the entry of "
                            "the Microsoft 365 relay yourself (then run postmap), or the file if nothing else "
                            "uses it" % (src, len(entries)), warn=path == src)
        return plan
    refs = _map_references(config_dir, src)
    if refs:
        for path in [src] + dbs:
            plan.keep(path, "still named by %s; remove that reference first" % ", ".join(refs), warn=path == src)
        return plan
    # The compiled maps first, the marked source last: a run killed in between leaves the
    # source, whose marker lets the next run finish the job.
    for db in dbs:
        plan.remove.append(Found(db, "the compiled Postfix SASL map", True, marker))
    plan.remove.append(Found(src, "the Postfix SASL map", True, marker))
    return plan


# ---- msmtp: the XOAUTH2 token refresher of an account -----------------------------------------------

def unit_names(account):
    base = UNIT_PREFIX + account
    return base + ".service", base + ".timer"


def cron_file(account, cron_dir=CRON_DIR):
    return os.path.join(cron_dir, UNIT_PREFIX + account)


def _refresher_argv(command):
    """The refresher's --config and --token-file from a command line, or None when it does not run it."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not any(os.path.basename(a) == REFRESHER_SCRIPT for a in argv):
        return None
    out = {}
    for flag, name in (("--config", "config"), ("--token-file", "token_file")):
        if flag in argv and argv.index(flag) + 1 < len(argv):
            out[name] = argv[argv.index(flag) + 1]
    return out if len(out) == 2 else None


def _cron_entry(path, name):
    """(refresher argv, None) when the cron file is the one the role writes; (None, why) otherwise."""
    text = _read_text(path)
    if text is None:
        return None, None
    name_line = "#Ansible: " + name
    jobs = [l.strip() for l in split_lines(text) if l.strip() and not l.lstrip().startswith("#")]
    if name_line not in [l.rstrip("\r\n") for l in split_lines(text)] or len(jobs) != 1:
        return None, "not the cron file mailops.smtp writes for the refresher (%r entry with one job)" % (
            name_line,)
    fields = jobs[0].split(None, 6)
    argv = _refresher_argv(fields[6]) if len(fields) == 7 else None
    if argv is None:
        return None, "its job does not run the mailops.smtp token refresher"
    return argv, None


def _unit_entry(service_path, timer_path):
    """(refresher argv, None) for our pair of units; (None, why) otherwise, or (None, None) when absent."""
    service = _read_text(service_path)
    timer = _read_text(timer_path)
    if service is None and timer is None:
        return None, None
    exec_start = [l.split("=", 1)[1] for l in split_lines(service or "") if l.strip().startswith("ExecStart=")]
    ours = (service is not None and UNIT_TAG in service and len(exec_start) == 1
            and (timer is None or UNIT_TAG in timer))
    argv = _refresher_argv(exec_start[0]) if ours else None
    if argv is None:
        return None, "not the units mailops.smtp writes for the token refresher"
    return argv, None


def _token_is_ours(token_file, named):
    """A token is ours when our refresher entry names it, or the expiry file our refresher writes is beside it."""
    if named:
        return True
    meta = _read_text(token_file + TOKEN_META_SUFFIX)
    try:
        data = json.loads(meta) if meta else None
    except ValueError:
        data = None
    return isinstance(data, dict) and set(data) == TOKEN_META_KEYS


def plan_xoauth2_refresher(account, config_dir=REFRESHER_CONFIG_DIR, token_file=None, cron_dir=CRON_DIR,
                           systemd_dir=SYSTEMD_DIR, relay=False):
    """What the refresher of an msmtp account (or, with relay, of the smtp_relay role) leaves behind.

    The relay's refresher runs only from its own cron file, never from systemd units.
    """
    plan = Plan()
    if relay:
        cron, cron_name = os.path.join(cron_dir, RELAY_CRON_FILE), RELAY_CRON_NAME
    else:
        cron, cron_name = cron_file(account, cron_dir), CRON_NAME % account
    service, timer = [os.path.join(systemd_dir, n) for n in unit_names(account)]
    cron_argv, cron_why = _cron_entry(cron, cron_name)
    unit_argv, unit_why = (None, None) if relay else _unit_entry(service, timer)
    if cron_why:
        plan.keep(cron, cron_why)
    if unit_why:
        for p in (service, timer):
            if _exists(p):
                plan.keep(p, unit_why)
    named = cron_argv or unit_argv or {}
    config = named.get("config") or os.path.join(config_dir, "%s.oauth.json" % account)
    token = named.get("token_file") or token_file or os.path.join(TOKEN_DIR, "%s.token" % account)

    # The credential first (its sidecar, the proof, last), then the token (its expiry file last),
    # then the schedule: a run killed part way leaves what the next run needs to finish.
    sidecar = config + _marker.SIDECAR_SUFFIX
    if _exists(config) or _exists(sidecar):
        marker = _marker.parse_sidecar(_read_text(sidecar))
        if marker is None:
            for p in (config, sidecar):
                if _exists(p):
                    plan.keep(p, "not written by mailops.smtp (no drift marker %s)" % sidecar)
        else:
            if _exists(config):
                plan.remove.append(Found(config, "the XOAUTH2 refresher's app credential", True, marker))
            plan.remove.append(Found(sidecar, "the drift marker of %s" % config, False, marker))
    meta = token + TOKEN_META_SUFFIX
    if _exists(token):
        if _token_is_ours(token, token == named.get("token_file")):
            plan.remove.append(Found(token, "the XOAUTH2 access token", True))
            if _exists(meta):
                plan.remove.append(Found(meta, "the token's expiry", False))
        else:
            plan.keep(token, "not written by the mailops.smtp refresher (no refresher entry names it, and no "
                             "expiry file of ours is beside it)")
    elif _token_is_ours(token, False):
        plan.remove.append(Found(meta, "the token's expiry", False))
    if cron_argv:
        plan.remove.append(Found(cron, "the refresher's cron entry", False))
    if unit_argv:
        plan.stop_units.append(unit_names(account)[1])
        for p in (service, timer):
            if _exists(p):
                plan.remove.append(Found(p, "the refresher's systemd unit", False))
        wants = os.path.join(systemd_dir, "timers.target.wants", unit_names(account)[1])
        if os.path.islink(wants):
            plan.remove.append(Found(wants, "the refresher timer's enablement link", False))
    return plan


# ---- the whole step ------------------------------------------------------------------------------

def plan_item(item, cron_dir=CRON_DIR, systemd_dir=SYSTEMD_DIR):
    kind = item.get("kind")
    if kind == "postfix_sasl_map":
        return plan_postfix_sasl_map(item.get("path") or PRESETS["postfix"]["path"])
    if kind == "xoauth2_refresher":
        return plan_xoauth2_refresher(item.get("account") or "mailops", item.get("path") or REFRESHER_CONFIG_DIR,
                                      item.get("token_file"), cron_dir, systemd_dir)
    if kind == "relay_refresher":
        return plan_xoauth2_refresher(RELAY_ACCOUNT, item.get("path") or REFRESHER_CONFIG_DIR,
                                      item.get("token_file"), cron_dir, systemd_dir, relay=True)
    raise LeftoverError("unknown kind %r; use one of %s" % (kind, ", ".join(KINDS)))


def diff_of(found):
    """A diff that shows the file going away, and what it was, never what it held."""
    what = found.what
    if found.marker:
        what += ", written by mailops.smtp from credential %s version %s" % (
            found.marker.get("credential"), found.marker.get("version"))
    body = "(%s; content not shown)\n" % what if found.secret else "(%s)\n" % what
    return {"before_header": found.path, "after_header": found.path, "before": body, "after": ""}


def _remove(path):
    try:
        _atomic.remove(path)
    except _atomic.AtomicError as e:
        raise LeftoverError("%s; the files listed after it were not removed" % e)


def _systemd_running(root=SYSTEMD_RUNNING):
    return os.path.isdir(root)


def execute(items, run, check_mode=False, want_diff=False, cron_dir=CRON_DIR, systemd_dir=SYSTEMD_DIR,
            systemd_root=SYSTEMD_RUNNING):
    """Plan every item, then (unless check_mode) stop the timers, remove the files and reload systemd.

    run(argv) -> (rc, stdout, stderr) runs systemctl. Returns the module's result.
    """
    plans = [plan_item(i, cron_dir, systemd_dir) for i in items]
    found = [f for p in plans for f in p.remove]
    units = [u for p in plans for u in p.stop_units]
    result = {
        "changed": bool(found),
        "removed": [f.path for f in found],
        "files": [f.as_dict() for f in found],
        "kept": [k for p in plans for k in p.kept],
        "warnings": [w for p in plans for w in p.warnings],
    }
    if want_diff:
        result["diff"] = [diff_of(f) for f in found]
    if check_mode or not found:
        return result
    systemd = units and _systemd_running(systemd_root)
    if systemd:
        for unit in units:
            # Stopped first, so that the timer cannot write a token while its files go.
            _systemctl(run, ["disable", "--now", unit])
    for f in found:
        _remove(f.path)
    if systemd:
        _systemctl(run, ["daemon-reload"])
    return result


def _systemctl(run, args):
    rc, _out, err = run(["systemctl"] + args)
    if rc != 0:
        raise LeftoverError("systemctl %s failed (rc=%d): %s; fix the unit, then run again"
                            % (" ".join(args), rc, (err.strip().splitlines() or [""])[-1][:300]))


# ---- which items a set of applications leaves (the smtp_configure role) ------------------------------

def _via_relay(app):
    """An app in via_relay mode sends through a relay with no login: it uses no secret file at all."""
    return (app.get("options") or {}).get("mode") == "via_relay"


def _uses_sasl_map(app):
    return app.get("kind") == "postfix" and not app.get("connector") and not _via_relay(app)


def _uses_refresher(app):
    return app.get("kind") == "msmtp" and bool(app.get("xoauth2")) and not _via_relay(app)


def unused_items(apps, refresher_config_dir=REFRESHER_CONFIG_DIR):
    """The `unused` items for a host's applications, as smtp_configure describes them.

    apps: dicts with kind (preset or format), connector (Postfix in connector mode), xoauth2 (msmtp with
    the token refresher), account, token_file, options (options.mode via_relay: no secret file), and app
    (the item of smtp_configure_apps, for its path). A Postfix directory or msmtp account that another app
    still uses in the old mode is left alone.
    """
    def path_of(a):
        return (a.get("app") or {}).get("path") or PRESETS["postfix"]["path"]

    relay_dirs = set(path_of(a) for a in apps if _uses_sasl_map(a))
    oauth_accounts = set(a.get("account") for a in apps if _uses_refresher(a))
    out, seen = [], set()
    for a in apps:
        if a.get("kind") == "postfix" and not _uses_sasl_map(a) and path_of(a) not in relay_dirs:
            item = {"kind": "postfix_sasl_map", "path": path_of(a)}
        elif a.get("kind") == "msmtp" and not _uses_refresher(a) and a.get("account") not in oauth_accounts:
            item = {"kind": "xoauth2_refresher", "account": a.get("account") or "mailops",
                    "path": refresher_config_dir, "token_file": a.get("token_file")}
        else:
            continue
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
