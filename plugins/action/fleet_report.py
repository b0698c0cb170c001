# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.fleet_report: write the fleet report on the controller, once per run.

The report files are the controller's own output, not a change to any managed
host, so they are written in check mode too and the task reports changed=false.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic
from ansible_collections.mailops.smtp.plugins.plugin_utils import _relay_paths, _report

FILES = {"json": "report.json", "junit": "report.junit.xml", "md": "report.md", "html": "report.html"}
FILE_MODE = 0o640
DIR_MODE = 0o750
ARGS = frozenset(("results", "hosts", "result_var", "auth_result_var", "auth_hosts", "apps_var", "connector_var",
                  "report_dir", "formats", "max_fail_percentage", "title", "apps", "connector",
                  "credential", "relay_upstream", "relay_upstream_var", "relay", "relay_result_var",
                  "credential_type", "observed", "observed_var"))
DEFAULT_DIR = "smtp-validate-report"


def _render(fmt, report):
    # Renderers are imported on demand: a run that asks for JSON only loads no HTML code.
    if fmt == "json":
        import json
        return json.dumps(report, indent=2, sort_keys=False) + "\n"
    if fmt == "junit":
        from ansible_collections.mailops.smtp.plugins.plugin_utils import _report_junit
        return _report_junit.render(report)
    if fmt == "md":
        from ansible_collections.mailops.smtp.plugins.plugin_utils import _report_md
        return _report_md.render(report)
    from ansible_collections.mailops.smtp.plugins.plugin_utils import _report_html
    return _report_html.render(report)


def write_atomic(path, text):
    """Replace path with text: a candidate in the same directory, fsync, rename; mode 0640."""
    _atomic.write_file(path, to_bytes(text, errors="surrogate_or_strict"), mode=FILE_MODE)


def check_args(args):
    unknown = sorted(set(args) - ARGS)
    if unknown:
        raise AnsibleActionFail("unsupported option%s: %s; the options are %s" % (
            "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(sorted(ARGS))))
    if ("results" in args) == ("hosts" in args):
        raise AnsibleActionFail("give exactly one of results (a dict of inventory host name -> the probe's "
                                "result) or hosts (a list of inventory host names, with result_var)")
    if "hosts" in args and not isinstance(args["hosts"], list):
        raise AnsibleActionFail("hosts must be a list of inventory host names")
    if args.get("auth_hosts") is not None and not isinstance(args["auth_hosts"], list):
        raise AnsibleActionFail("auth_hosts must be a list of inventory host names")
    formats = args.get("formats")
    if formats is None:
        formats = list(FILES)
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    if not isinstance(formats, list) or not formats:
        raise AnsibleActionFail("formats must be a non-empty list of %s" % ", ".join(FILES))
    bad = [str(f) for f in formats if f not in FILES]
    if bad:
        raise AnsibleActionFail("formats: %s not known; choose from %s" % (", ".join(bad), ", ".join(FILES)))
    report_dir = args.get("report_dir") or DEFAULT_DIR
    if not isinstance(report_dir, str):
        raise AnsibleActionFail("report_dir must be a path (a string)")
    title = args.get("title")
    if title is not None and not isinstance(title, str):
        raise AnsibleActionFail("title must be a string")
    seen = []
    for f in formats:
        if f not in seen:
            seen.append(f)
    return seen, os.path.abspath(os.path.expanduser(report_dir))


def merge_auth(connectivity, auth):
    """One result per host: the connectivity probe, with the ports that an AUTH probe re-checked replaced.

    The AUTH probe runs on fewer hosts and ports (those that passed), so its
    ports carry the AUTH stage while the others keep what connectivity found.
    """
    if not isinstance(auth, dict) or not isinstance(connectivity, dict) \
            or not isinstance(connectivity.get("ports"), dict):
        return connectivity
    if not isinstance(auth.get("ports"), dict):
        if auth.get("skipped") or not (auth.get("failed") or auth.get("msg") or auth.get("unreachable")):
            return connectivity
        # The AUTH check could not even start (a credential the probe refuses, such as a
        # username with a line break; `failed_when: false` hides `failed`): the host has
        # not shown that it can submit mail.
        return {"failed": True, "msg": "the AUTH check could not run: %s" % (auth.get("msg") or "it failed")}
    merged = dict(connectivity)
    merged["ports"] = dict(connectivity["ports"], **auth["ports"])
    merged["ok"] = bool(connectivity.get("ok")) and bool(auth.get("ok"))
    merged["summary"] = "%s; AUTH: %s" % (connectivity.get("summary", ""), auth.get("summary", ""))
    return merged


def from_hostvars(args, task_vars):
    """Each host's probe result, applications and connector result, read from its host variables.

    Jinja cannot default a missing attribute of another host's variables, and an
    unreachable host has none; reading them here keeps the playbook simple.
    """
    hostvars = task_vars.get("hostvars") or {}
    active = set(task_vars.get("ansible_play_hosts") or [])
    result_var = args.get("result_var") or "smtp_probe"
    auth_var = args.get("auth_result_var")
    auth_hosts = args.get("auth_hosts")
    auth_hosts = None if auth_hosts is None else set(to_text(h) for h in auth_hosts)
    apps_var = args.get("apps_var")
    connector_var = args.get("connector_var")
    results, apps = {}, ({} if apps_var else None)
    connector = {}
    for host in args["hosts"]:
        host = to_text(host)
        hv = hostvars[host] if host in hostvars else {}
        res = hv.get(result_var)
        if res is None and host not in active:
            res = {"unreachable": True, "msg": "the host could not be reached"}
        if auth_var and (auth_hosts is None or host in auth_hosts):
            res = merge_auth(res, hv.get(auth_var))
        results[host] = res
        if apps_var:
            apps[host] = hv.get(apps_var)
        # A probe that checked the connector path itself carries it; an earlier run's separate
        # result, left in a variable, is not this run's unless connector_var names it.
        conn = hv.get(connector_var) if connector_var else (res.get("connector") if isinstance(res, dict) else None)
        # A host that did not check the path (skipped, or gone) is "not checked", not "not reachable".
        if isinstance(conn, dict) and not conn.get("skipped"):
            connector[host] = conn
    # No host checked it: the report says "not checked" rather than "not reachable".
    return results, apps, (connector if connector or connector_var else None)


def relay_upstreams_from_hostvars(args, task_vars):
    """host -> the upstream of the relay its via_relay apps send through, from each host's variable
    (relay_upstream_var, default mailops_smtp_relay_upstream); hosts without it are left out."""
    hostvars = task_vars.get("hostvars") or {}
    name = args.get("relay_upstream_var") or _report.RELAY_UPSTREAM_VAR
    out = {}
    for host in args["hosts"]:
        host = to_text(host)
        value = (hostvars[host] if host in hostvars else {}).get(name)
        if value:
            out[host] = to_text(value)
    return out


def _relay_hosts_by_address(hosts, hostvars):
    """address or name -> inventory host, to tell which host runs the relay an application names."""
    out = {}
    for host in hosts:
        host = to_text(host)
        out.setdefault(host, host)
        address = (hostvars[host] if host in hostvars else {}).get("ansible_host")
        if address:
            out.setdefault(to_text(address), host)
    return out


def _upstream_input(mode, res, upstream_result):
    if not mode:
        return None
    if mode == "connector":
        conn = res.get("connector") if isinstance(res, dict) else None
        return {"mode": mode, "result": conn, "why_not": "the connector path was not checked from this host: set "
                "smtp_validate_connector_host (mailops_smtp_connector_host) or smtp_relay_tenant"}
    return {"mode": mode, "result": upstream_result,
            "why_not": "no login was checked: give validate the relay's credential, of the type its upstream needs "
                       "(oauth2 for xoauth2, basic for basic), in smtp_validate_relay_vault or "
                       "smtp_validate_relay_credential"}


def relay_from_hostvars(args, task_vars, results):
    """host -> {hops, upstream}: the hops its probe checked (the relay each names, when an inventory host runs
    it) and the upstream check of the relay it runs, when it runs one (_relay_paths.own_relay_upstream, from the
    host's applications, relay upstreams and smtp_relay_listen, as the smtp_validate role checks it)."""
    hostvars = task_vars.get("hostvars") or {}
    apps_var = args.get("apps_var")
    upstream_var = args.get("relay_upstream_var") or _report.RELAY_UPSTREAM_VAR
    result_var = args.get("relay_result_var")
    by_address = _relay_hosts_by_address(args["hosts"], hostvars)
    out = {}
    for host in args["hosts"]:
        host = to_text(host)
        hv = hostvars[host] if host in hostvars else {}
        res = results.get(host) if isinstance(results.get(host), dict) else {}
        hops = []
        for hop in res.get("relays") or []:
            if isinstance(hop, dict):
                relay = hop.get("relay") if isinstance(hop.get("relay"), dict) else {}
                hops.append(dict(hop, relay_inventory_host=by_address.get(to_text(relay.get("host")))))
        try:
            mode = _relay_paths.own_relay_upstream(hv.get(apps_var) if apps_var else None, hv.get(upstream_var),
                                                   hv.get(_relay_paths.RELAY_LISTEN_VAR),
                                                   hv.get(_relay_paths.RELAY_OWN_UPSTREAM_VAR))
        except ValueError:
            # The role's probe task refuses such a host with the message; the report does not stop for it, and
            # its readiness says the upstream will not do.
            mode = None
        upstream = _upstream_input(mode, res, hv.get(result_var) if result_var else None)
        if hops or upstream:
            out[host] = {"hops": hops, "upstream": upstream}
    return out


def observed_from_hostvars(args, task_vars):
    """host -> what mailops.smtp.host_settings read with observe on it (observed_var), or None when not asked.

    A host without the variable (unreachable, or the read was skipped) is kept with None: its apps are unknown."""
    name = args.get("observed_var")
    if not name:
        return None
    hostvars = task_vars.get("hostvars") or {}
    return dict((to_text(h), (hostvars[to_text(h)] if to_text(h) in hostvars else {}).get(name))
                for h in args["hosts"])


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    # Report files are the controller's own output; see the module's check_mode attribute.
    _supports_check_mode = True
    _supports_async = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        formats, report_dir = check_args(args)
        if "hosts" in args:
            args["results"], apps, connector = from_hostvars(args, task_vars or {})
            args["apps"] = args.get("apps") if apps is None else apps
            args["connector"] = args.get("connector") if connector is None else connector
            if args.get("relay_upstream") is None:
                args["relay_upstream"] = relay_upstreams_from_hostvars(args, task_vars or {})
            if args.get("relay") is None:
                args["relay"] = relay_from_hostvars(args, task_vars or {}, args["results"])
            if args.get("observed") is None:
                args["observed"] = observed_from_hostvars(args, task_vars or {})
        try:
            report = _report.build_report(
                args["results"], apps=args.get("apps"), connector=args.get("connector"),
                max_fail_percentage=0 if args.get("max_fail_percentage") is None else args["max_fail_percentage"],
                title=args.get("title"), credential=args.get("credential"),
                relay_upstream=args.get("relay_upstream"), relay=args.get("relay"),
                credential_type=args.get("credential_type"), observed=args.get("observed"))
        except _report.ReportInputError as exc:
            raise AnsibleActionFail(to_text(exc))
        try:
            if not os.path.isdir(report_dir):
                os.makedirs(report_dir, DIR_MODE)
        except OSError as exc:
            raise AnsibleActionFail("cannot create report_dir %s: %s; choose a writable directory"
                                    % (report_dir, exc.strerror or exc))
        paths = {}
        for fmt in formats:
            path = os.path.join(report_dir, FILES[fmt])
            try:
                write_atomic(path, _render(fmt, report))
            except _atomic.AtomicError as exc:
                raise AnsibleActionFail("cannot write %s: %s" % (path, exc))
            except OSError as exc:
                raise AnsibleActionFail("cannot write %s: %s; check that report_dir is writable"
                                        % (path, exc.strerror or exc))
            paths[fmt] = path
        from ansible_collections.mailops.smtp.plugins.plugin_utils import _report_md
        summary = dict(report["summary"])
        result.update(
            changed=False,
            passed=summary["passed"],
            summary=summary,
            paths=paths,
            report_dir=report_dir,
            summary_table=_report_md.summary_table(report),
            # Connectivity first, then the real cause, then readiness: a failed run's message leads with why.
            msg=_report.lead(summary),
        )
        return result
