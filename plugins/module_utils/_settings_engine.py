# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan and apply a settings change: merge every file in memory, then write.

Internal use only. Nothing is written until every file of the change has been
merged and every value accepted, so a refused value leaves all files untouched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import os
import re
import shlex
import threading
import time

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic, _mask, _marker
from ansible_collections.mailops.smtp.plugins.module_utils import _formats_json, _observe
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    BREAK_NAMES, FormatError, MergeResult, has_line_break, merge)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_msmtp import set_default
from ansible_collections.mailops.smtp.plugins.module_utils import _presets_via_relay as via_relay
from ansible_collections.mailops.smtp.plugins.module_utils._presets import PRESETS, build, check_mode
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import ProfileError, get_profile


# The options only the action plugin passes to the module (the finished YAML file, its
# masked diff, the per-run fingerprint key). The module takes them out of its arguments
# before validation, so they are in no argument spec: ansible-doc never shows them, and
# validate-modules needs no ignore for them. Secret ones are masked in any output.
PRIVATE_OPTIONS = ("_fingerprint_key", "_content", "_secret_changed", "_diff_before", "_diff_after", "_deployed",
                   "_expected_sha256", "_read")
SECRET_PRIVATE_OPTIONS = ("_fingerprint_key", "_content")


class SettingsError(Exception):
    """The change cannot be made; no file was touched unless the message says so."""


def module_runner(module):
    """Return run(argv, timeout=None) -> (rc, stdout, stderr) on module.run_command.

    The engine takes its runner as an argument so that it also runs in-process,
    where there is no module. A timeout kills a command that is still running
    after that many seconds; it then reports rc 124, as timeout(1) does.
    """
    def run(argv, timeout=None):
        if timeout is None:
            return module.run_command(argv)
        killed = []
        timers = []

        def arm(proc):
            def kill():
                if proc.poll() is None:
                    killed.append(True)
                    proc.kill()
            timer = threading.Timer(timeout, kill)
            timer.daemon = True
            timers.append(timer)
            timer.start()

        try:
            rc, out, err = module.run_command(argv, before_communicate_callback=arm)
        finally:
            for timer in timers:
                timer.cancel()
        if killed:
            return 124, out, "%s timed out after %ds" % (argv[0], timeout)
        return rc, out, err
    return run


# Options whose values are written as text: anything but a string is refused, never
# converted (str() of a list would land in the file as "['a', 'b']").
_TEXT_FIELDS = {
    "credential": ("type", "username", "password", "tenant_id", "client_id", "client_secret", "access_token"),
    "smtp": ("profile", "host", "security", "mechanism", "from_address", "from_name", "ca_path", "tenant",
             "system_ca_file"),
}
_NUMBER_FIELDS = {"smtp": ("port", "timeout")}


def check_types(smtp, credential):
    """Refuse a value of the wrong type; the message names the option and the type, never the value."""
    for group, value in (("smtp", smtp), ("credential", credential)):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise SettingsError("%s must be a dict, not %s; no file was changed" % (group, type(value).__name__))
        for name in _TEXT_FIELDS[group]:
            v = value.get(name)
            if v is not None and not isinstance(v, str):
                raise SettingsError("%s.%s must be a string, not %s; no file was changed"
                                    % (group, name, _type_name(v)))
        for name in _NUMBER_FIELDS.get(group, ()):
            v = value.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, str))):
                raise SettingsError("%s.%s must be a number, not %s; no file was changed"
                                    % (group, name, _type_name(v)))


def _type_name(value):
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    return type(value).__name__


def build_context(smtp, credential):
    check_types(smtp, credential)
    smtp = dict(smtp or {})
    cred = dict(credential or {})
    ctx = {}
    prof = None
    if smtp.get("profile"):
        try:
            prof = get_profile(smtp["profile"])
        except ProfileError as e:
            raise SettingsError(str(e))
    host = smtp.get("host") or (prof and prof.get("host"))
    port = smtp.get("port")
    security = smtp.get("security")
    if prof and not port:
        first = [p for p in prof["ports"] if p.get("expect") == "open"][0]
        port = first["port"]
        security = security or first["security"]
    ctx.update(host=host, port=port, security=security or "starttls",
               mechanism=smtp.get("mechanism") or ("xoauth2" if cred.get("type") == "oauth2" else "login"),
               from_address=smtp.get("from_address"), from_name=smtp.get("from_name"),
               timeout=smtp.get("timeout"), ca_path=smtp.get("ca_path"),
               tenant=smtp.get("tenant"), system_ca_file=smtp.get("system_ca_file"),
               authority=(prof or {}).get("oauth_authority"))
    if ctx["security"] not in ("starttls", "tls"):
        raise SettingsError("smtp.security must be starttls or tls")
    if ctx["mechanism"] not in ("login", "xoauth2"):
        raise SettingsError("smtp.mechanism must be login or xoauth2")
    ctx["starttls"] = ctx["security"] == "starttls"
    ctx["implicit_tls"] = ctx["security"] == "tls"
    for f in ("username", "password", "tenant_id", "client_id", "client_secret"):
        ctx[f] = cred.get(f)
    _check_values(ctx)
    return ctx


# Values that end up in SMTP commands or mail headers: a line break there is an injection
# (and mail libraries differ on what a line break is, so every one of LINE_BREAKS counts).
_ONE_LINE = ("host", "username", "from_address", "from_name", "tenant_id", "client_id", "tenant")
# Far above any real setting (Entra passwords stop at 256): a longer value is a mistake.
MAX_VALUE = 4096


def _check_values(ctx):
    """Refuse values no application could use; messages name the setting, never its value."""
    for name in sorted(ctx):
        value = ctx[name]
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeError:
            raise SettingsError("the value of %s is not valid UTF-8 text; no file was changed" % name)
        if len(value) > MAX_VALUE:
            raise SettingsError("the value of %s is %d characters long, more than the %d accepted; no file was changed"
                                % (name, len(value), MAX_VALUE))
        if name in _ONE_LINE and ("\x00" in value or has_line_break(value)):
            raise SettingsError("the value of %s contains %s or NUL (SMTP command or header injection); "
                                "no file was changed. Remove the character from the value." % (name, BREAK_NAMES))
    port = ctx.get("port")
    if port is not None:
        text = str(port)
        if isinstance(port, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
            raise SettingsError("smtp.port must be a port number from 1 to 65535, got %r" % (port,))
    timeout = ctx.get("timeout")
    if timeout is not None:
        try:
            ok = not isinstance(timeout, bool) and 0 < float(timeout) <= 3600
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise SettingsError("smtp.timeout must be a number of seconds from 1 to 3600, got %r" % (timeout,))


def _read(path):
    try:
        kind = _atomic.file_kind(path)
    except _atomic.AtomicError as e:
        raise SettingsError(str(e))
    if kind not in ("absent", "regular"):
        raise SettingsError("%s is %s, not a regular file; nothing was written" % (path, kind))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IOError as e:
        if e.errno == 2:
            return None
        raise SettingsError("cannot read %s: %s" % (path, e.strerror))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError("%s is not UTF-8 text; settings cannot be merged into it safely" % path)


class FilePlan(object):
    def __init__(self, spec, old, result, new_bytes, attrs, exists):
        self.spec = spec
        self.path = spec["path"]
        self.old = old
        self.result = result
        self.new_bytes = new_bytes
        self.attrs = attrs
        self.exists = exists
        self.attrs_changed = exists and _atomic.attrs_differ(self.path, *attrs)
        self.changed = (not exists) or result.changed or self.attrs_changed


def _bundle(spec):
    parts = []
    for src in spec["sources"]:
        try:
            with open(src, "rb") as f:
                parts.append(f.read().rstrip(b"\n") + b"\n")
        except IOError as e:
            raise SettingsError("cannot read CA file %s: %s; fix smtp.ca_path" % (src, e.strerror))
    return b"".join(parts)


def sha256_of(text):
    """The hash the action plugin and the module compare: of the bytes, or 'absent'."""
    if text is None:
        return "absent"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def destination(path, follow):
    """The file to write for path: itself, or with follow the file its symlink points to.

    Anything that is not a regular file or absent is refused: opening a FIFO
    would hang, and renaming over a symlink would replace the link and leave the
    file it points to with the old settings.
    """
    try:
        kind = _atomic.file_kind(path)
    except _atomic.AtomicError as e:
        raise SettingsError(str(e))
    if kind == "symlink":
        if not follow:
            raise SettingsError(
                "%s is a symbolic link (to %s); nothing was written. Set follow: true to write the file "
                "it points to and keep the link, or give the real path." % (path, os.readlink(path)))
        real = os.path.realpath(path)
        try:
            kind = _atomic.file_kind(real)
        except _atomic.AtomicError as e:
            raise SettingsError(str(e))
        if kind not in ("absent", "regular"):
            raise SettingsError("%s points to %s, which is %s, not a regular file; nothing was written"
                                % (path, real, kind))
        return real
    if kind not in ("absent", "regular"):
        raise SettingsError("%s is %s, not a regular file; nothing was written. Give the path of a "
                            "regular file (or of one to create)." % (path, kind))
    return path


def without_unused_credential(params):
    """params, with no credential in via_relay mode: the relay logs in, the application does not.

    Nothing of a credential given anyway reaches the files, and their drift marker says
    `credential none`, so that a rotation does not take them for files of that credential.
    """
    if via_relay.is_via_relay(params.get("options")) and params.get("credential") is not None:
        return dict(params, credential=None)
    return params


def file_specs(params, run):
    """Return the spec of every file of the change, each at the path that will be written."""
    specs = built_specs(params, run)
    for sp in specs:
        sp["path"] = destination(sp["path"], params.get("follow"))
    return specs


def built_specs(params, run):
    """The spec of every file of the change, at the path the parameters give (links not followed)."""
    preset = params.get("preset")
    fmt_name = params.get("format")
    path = params.get("path") or (PRESETS.get(preset) or {}).get("path")
    if not path:
        raise SettingsError("path is required for %s" % (preset or fmt_name))
    if not os.path.isabs(path):
        raise SettingsError("path must be absolute, not %r" % path)
    opts = dict(params.get("options") or {})
    try:
        check_mode(preset, opts)
        ctx = build_context(params.get("smtp"), params.get("credential"))
        if preset == "postfix" and opts.get("mode", "relay") == "relay" and ctx["mechanism"] != "xoauth2":
            ctx["postfix_db_type"] = opts.get("map_type") or postfix_db_type(path, run)
        marker_text(params)  # refuses a Vault path the marker cannot hold
        if fmt_name == "yaml":
            specs = [dict(path=path, fmt="content", mode=0o600, role="main", block=None, assignments=None)]
        elif via_relay.is_via_relay(opts):
            specs = via_relay.build(preset, fmt_name, path, ctx, opts, params.get("keys"), params.get("section"))
        else:
            specs = build(preset, fmt_name, path, ctx, opts, params.get("keys"), params.get("section"))
    except (FormatError, ValueError) as e:
        raise SettingsError(str(e))
    return specs


def check_writable(params):
    """Raise SettingsError when a file of params could not hold its values, whatever the file holds now.

    Each file is built and merged into an empty one (its skeleton), in memory: a value refused there is
    refused in every file, and nothing of the host is read. For a check on the controller before a new
    credential is stored (smtp_rotate): Postfix's map type is taken as hash when not given, as postconf
    is the host's.
    """
    params = without_unused_credential(params)
    opts = dict(params.get("options") or {})
    if params.get("preset") == "postfix" and opts.get("mode", "relay") == "relay" and not opts.get("map_type"):
        params = dict(params, options=dict(opts, map_type="hash"))
    fp_key, marker = _mask.new_key(), marker_text(params)
    for sp in built_specs(params, None):
        if sp["fmt"] in ("bundle", "content"):
            continue
        try:
            merge_spec(sp, None, marker, fp_key)
        except (FormatError, ValueError) as e:
            raise SettingsError(str(e))


def merge_spec(sp, old, marker, fp_key):
    """The MergeResult of a JSON or line-format spec merged into old, the file's text (None: no file yet, so
    the spec's skeleton, or nothing for JSON)."""
    if sp["fmt"] == "json":
        return _formats_json.merge(old, sp["assignments"], sp["path"], fp_key)
    base = old if old is not None else sp.get("skeleton", "")
    return merge(sp["fmt"], base, sp["assignments"], sp.get("block"), marker, fp_key)


def file_method(params):
    """The way the file makes its application send, as its marker records it (_marker.auth_method)."""
    return _marker.auth_method(params.get("credential"), params.get("options"), params.get("smtp"))


def marker_text(params):
    return _marker.text(params.get("credential"), file_method(params))


def lock_dirs(specs):
    """The directories to lock, sorted so that two writers always lock in one order."""
    return sorted(set(os.path.dirname(os.path.abspath(sp["path"])) for sp in specs))


def plan(params, fp_key, run):
    """Return the list of FilePlans; raises SettingsError before anything is written."""
    params = without_unused_credential(params)
    return plan_specs(file_specs(params, run), params, fp_key)


def plan_specs(specs, params, fp_key):
    preset = params.get("preset")
    marker = marker_text(params)
    plans = []
    for sp in specs:
        is_main = sp["role"] == "main"
        old = _read(sp["path"])
        if is_main and params.get("_expected_sha256") and sha256_of(old) != params["_expected_sha256"]:
            raise SettingsError(
                "%s changed after the controller read it (another run wrote it meanwhile); nothing was "
                "written. Run again to merge into the new content." % sp["path"])
        exists = old is not None
        if not exists and not params.get("create", True):
            raise SettingsError("%s does not exist and create is false; create the file or set create: true" % sp["path"])
        try:
            if sp["fmt"] == "bundle":
                new_bytes = _bundle(sp)
                res = MergeResult(text=None, changed=(old or "").encode("utf-8") != new_bytes,
                                  content_changed=(old or "").encode("utf-8") != new_bytes,
                                  secret_changed=False, before_masked=old or "",
                                  after_masked=new_bytes.decode("utf-8", "replace"), deployed=None)
            elif sp["fmt"] == "content":
                res = content_result(old, params.get("_content"), params.get("_secret_changed"),
                                     params.get("_diff_before"), params.get("_diff_after"))
                new_bytes = res.text.encode("utf-8")
            elif sp["fmt"] == "json":
                res = merge_spec(sp, old, marker, fp_key)
                new_bytes = res.text.encode("utf-8")
            else:
                res = merge_spec(sp, old, marker, fp_key)
                text = res.text
                if sp.get("msmtp_default"):
                    text = set_default(text, sp["msmtp_default"])
                    res.after_masked = set_default(res.after_masked, sp["msmtp_default"])
                res.text = text
                res.changed = text != (old or "")
                new_bytes = text.encode("utf-8")
        except FormatError as e:
            raise SettingsError(str(e))
        mode = params.get("mode") if is_main else None
        owner = params.get("owner")
        group = params.get("group")
        try:
            attrs = _atomic.target_attrs(sp["path"], mode, owner, group, _default_mode(sp, preset))
        except _atomic.AtomicError as e:
            raise SettingsError(str(e))
        plans.append(FilePlan(sp, old, res, new_bytes, attrs, exists))
    # JSON has no comment syntax: its marker goes to a sidecar file.
    main = [p for p in plans if p.spec["role"] == "main"][0]
    if main.spec["fmt"] == "json":
        side = destination(main.path + _marker.SIDECAR_SUFFIX, params.get("follow"))
        old = _read(side)
        content = _marker.sidecar_content(params.get("credential"), file_method(params))
        main.result.deployed = _marker.parse_sidecar(old)
        res = MergeResult(text=content, changed=old != content, content_changed=False, secret_changed=False,
                          before_masked=old or "", after_masked=content, deployed=None)
        sp = dict(path=side, fmt="sidecar", role="sidecar", mode=0o644)
        plans.append(FilePlan(sp, old, res, content.encode("utf-8"),
                              _atomic.target_attrs(side, None, params.get("owner"), params.get("group"), 0o644),
                              old is not None))
    elif main.spec["fmt"] == "content":
        main.result.deployed = params.get("_deployed")
    return plans


def content_result(old, content, secret_changed, before, after):
    if content is None:
        raise SettingsError("format yaml is merged by the action plugin; call mailops.smtp.settings, "
                            "not the module file directly")
    return MergeResult(text=content, changed=content != (old or ""), content_changed=content != (old or ""),
                       secret_changed=bool(secret_changed), before_masked=before or "",
                       after_masked=after or "", deployed=None)


def _default_mode(sp, preset):
    if sp["role"] == "main" and preset:
        return sp.get("mode", PRESETS[preset]["mode"])
    return sp.get("mode", 0o600)


def postfix_db_type(path, run):
    """Postfix's default_database_type for the instance in path, never the machine's.

    Without a main.cf there yet, the compiled-in default (postconf -d) answers.
    """
    argv = ["postconf", "-c", path, "-h", "default_database_type"]
    if not os.path.exists(os.path.join(path, "main.cf")):
        argv.insert(3, "-d")
    rc, out, err = run(argv)
    if rc != 0 or not out.strip():
        raise SettingsError("postconf -c %s is not usable (%s); install postfix and libsasl2-modules first, "
                            "or set options.map_type" % (path, (err.strip().splitlines() or ["rc=%d" % rc])[-1]))
    return out.strip()


def execute(params, fp_key, run, check_mode=False, want_diff=False):
    """The whole module run: lock, read, merge, write, reload; returns the module's result."""
    params = without_unused_credential(params)
    specs = file_specs(params, run)
    try:
        with _Locks(lock_dirs(specs)):
            plans = plan_specs(specs, params, fp_key)
            result = summary(plans, params)
            if want_diff:
                result["diff"] = diffs(plans)
            if result["changed"] and not check_mode:
                backups = apply(plans, params, run)
                if backups:
                    result["backup_files"] = backups
    except _atomic.AtomicError as e:
        raise SettingsError(str(e))
    if result["changed"] and not check_mode:
        rl = reload(params, result, run)
        if rl:
            result["reload"] = rl
    return result


class _Locks(object):
    """Hold the flock of each directory, taken in sorted order, released in reverse."""

    def __init__(self, dirs):
        self.locks = [_atomic.DirLock(d) for d in dirs]
        self.held = []

    def __enter__(self):
        try:
            for lock in self.locks:
                lock.__enter__()
                self.held.append(lock)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        while self.held:
            self.held.pop().__exit__()
        return False


def observe(params):
    """What the application's files say now (module_utils/_observe.py), for the observe option."""
    preset = params.get("preset")
    path = params.get("path") or (PRESETS.get(preset) or {}).get("path")
    if not path:
        raise SettingsError("path is required for %s" % (preset or params.get("format")))
    return _observe.observe(preset, params.get("format"), path)


def read_for_controller(params):
    """What the action plugin merges YAML into: the text (or None) and its hash, read as the module would."""
    path = destination(params.get("path"), params.get("follow"))
    with _atomic.DirLock(os.path.dirname(os.path.abspath(path))):
        text = _read(path)
    return dict(exists=text is not None, content=text or "", sha256=sha256_of(text), path=path)


def summary(plans, params):
    main = [p for p in plans if p.spec["role"] == "main"][0]
    source, version = _marker.describe(params.get("credential"))
    deployed = main.result.deployed
    return dict(
        changed=any(p.changed for p in plans),
        secret_changed=any(p.result.secret_changed for p in plans),
        content_changed=any(p.result.content_changed or not p.exists for p in plans if p.spec["role"] != "sidecar"),
        deployed=deployed,
        version={"credential": source, "version": version},
        files=[dict(path=p.path, changed=p.changed, secret_changed=p.result.secret_changed, created=not p.exists)
               for p in plans],
    )


def diffs(plans):
    return [dict(before=p.result.before_masked or "", after=p.result.after_masked or "",
                 before_header=p.path, after_header=p.path) for p in plans if p.changed]


def apply(plans, params, run):
    """Write every changed file (postfix: map, postmap, main.cf, postconf checks, renames)."""
    staged = []
    try:
        stage_all(plans, params, run, staged)
        return commit_all(staged, params)
    finally:
        discard_all(staged)


def stage_all(plans, params, run, staged):
    """Put a checked candidate beside every changed file, appending (plan, candidate) to staged.

    Nothing is replaced yet; a failure leaves the candidates in staged for discard_all.
    """
    validate_cmd = params.get("validate")
    try:
        for p in plans:
            _atomic.cleanup_stale(p.path)
        todo = [p for p in plans if p.changed]
        baseline = None
        if params.get("preset") == "postfix":
            main = [p for p in plans if p.spec["role"] == "main"][0]
            baseline = config_warnings(main.spec["config_dir"], run)
        for p in todo:
            tmp = _stage(p)
            p.extra = []
            staged.append((p, tmp))
            if p.spec["role"] == "map":
                p.extra = _postmap(p, tmp, run, baseline)
            if p.spec["role"] == "main":
                if params.get("preset") == "postfix":
                    _postconf_check(p, tmp, run, baseline)
                if validate_cmd:
                    _atomic.validate(tmp, validate_cmd, run)
    except _atomic.AtomicError as e:
        raise SettingsError(str(e))
    return staged


def commit_all(staged, params):
    """Every candidate is in place and checked; now the renames, map first. Empties staged."""
    backups = []
    try:
        while staged:
            p, tmp = staged[0]
            if params.get("backup") and p.exists:
                b = _atomic.backup(p.path)
                if b:
                    backups.append(b)
            for src, dst in getattr(p, "extra", []):
                _atomic.commit(src, dst)
            _atomic.commit(tmp, p.path)
            staged.pop(0)
    except _atomic.AtomicError as e:
        raise SettingsError(str(e))
    return backups


def discard_all(staged):
    """Remove the candidates that were not renamed into place."""
    for p, tmp in staged:
        _atomic.discard(tmp)
        for src, _dst in getattr(p, "extra", []):
            _atomic.discard(src)
    del staged[:]


def _stage(p):
    try:
        return _atomic.stage(p.path, p.new_bytes, *p.attrs)
    except (IOError, OSError) as e:
        # A full disk (ENOSPC) or a quota: say where; the old file is still in place.
        d = os.path.dirname(p.path)
        raise _atomic.AtomicError("cannot write the new %s: %s; free space in %s and run again "
                                  "(nothing was replaced)" % (p.path, e.strerror or e, d))


def _postmap(p, tmp, run, baseline):
    db_type, suffix = p.spec["db_type"], p.spec["db_suffix"]
    cfg = p.spec["config_dir"]
    # -c: the instance's main.cf, never the machine's /etc/postfix.
    rc, out, err = run(["postmap", "-c", cfg, "%s:%s" % (db_type, tmp)])
    if rc != 0 or new_warnings(err, baseline, {tmp: p.path}):
        # postmap may quote the offending line; that line holds the password.
        raise _atomic.AtomicError("postmap failed on the new SASL map (rc=%d); nothing was replaced" % rc)
    db_tmp = tmp + suffix
    _atomic.apply_attrs(db_tmp, *p.attrs)
    return [(db_tmp, p.path + suffix)]


_LINE_NO = re.compile(r", line \d+")
_PROGRAM = re.compile(r"^\s*[a-z]+: ")


def _warning_set(err, renames):
    """The warnings of a Postfix tool's stderr, with paths and line numbers made comparable."""
    out = []
    for line in err.splitlines():
        if not line.strip():
            continue
        for src, dst in renames.items():
            line = line.replace(src, dst)
        out.append(_LINE_NO.sub("", _PROGRAM.sub("", line.strip())))
    return collections.Counter(out)


def new_warnings(err, baseline, renames):
    """The warnings in err that the existing configuration (baseline) does not already give."""
    return list((_warning_set(err, renames) - baseline).elements())


def config_warnings(cfg, run):
    """The warnings postconf gives for the configuration as it is now: those never fail a write."""
    found = collections.Counter()
    if not os.path.exists(os.path.join(cfg, "main.cf")):
        return found
    for flag in ("-n", "-M"):
        _rc, _out, err = run(["postconf", "-c", cfg, flag])
        found.update(_warning_set(err, {}))
    return found


def _postconf_check(p, tmp, run, baseline):
    cfg = p.spec["config_dir"]
    cand = tmp + ".d"
    os.mkdir(cand, 0o700)
    try:
        with open(tmp, "rb") as src, open(os.path.join(cand, "main.cf"), "wb") as dst:
            dst.write(src.read())
        master = os.path.join(cfg, "master.cf")
        if os.path.exists(master):
            with open(master, "rb") as src, open(os.path.join(cand, "master.cf"), "wb") as dst:
                dst.write(src.read())
        # Postfix waits up to ~2 s for a config file modified in the last
        # second to settle; these private copies are complete, so age them.
        old = time.time() - 10
        for name in ("main.cf", "master.cf"):
            if os.path.exists(os.path.join(cand, name)):
                os.utime(os.path.join(cand, name), (old, old))
        for flag in ("-n", "-M"):
            rc, out, err = run(["postconf", "-c", cand, flag])
            added = new_warnings(err, baseline, {cand: cfg})
            if rc != 0 or added:
                msg = " / ".join(_mask.mask_assignments(w) for w in (added or err.strip().splitlines())[:5])
                raise _atomic.AtomicError(
                    "postconf %s rejected the new main.cf (rc=%d): %s; nothing was replaced"
                    % (flag, rc, msg.replace(cand, cfg)))
    finally:
        _atomic.discard(cand)


def reload(params, summary_, run):
    cmd = params.get("reload_command")
    if not cmd or not summary_["content_changed"]:
        return None
    rc, out, err = run(shlex.split(cmd))
    if rc != 0:
        raise SettingsError("files were written, but the reload command failed (rc=%d): %s"
                            % (rc, (err.strip().splitlines() or [""])[-1][:300]))
    return {"command": cmd, "rc": rc}
