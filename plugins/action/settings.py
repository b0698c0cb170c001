# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller half of mailops.smtp.settings: early checks, the per-run
fingerprint key, and the YAML merge; the module on the host does the writing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mailops.smtp.plugins.module_utils import _mask
from ansible_collections.mailops.smtp.plugins.module_utils import _presets_via_relay as via_relay
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import FormatError
from ansible_collections.mailops.smtp.plugins.module_utils._presets import LOGICAL, PRESETS, SECRET_LOGICAL
from ansible_collections.mailops.smtp.plugins.module_utils._settings_engine import (
    PRIVATE_OPTIONS, SettingsError, build_context, check_types, without_unused_credential, file_method)
from ansible_collections.mailops.smtp.plugins.plugin_utils import _pipelining

MODULE = "mailops.smtp.settings"
INTERNAL = PRIVATE_OPTIONS
SECRET_FIELDS = ("password", "client_secret", "access_token")


def check_args(args):
    """Refuse bad input before anything reaches a host."""
    for k in INTERNAL:
        if k in args and k != "_fingerprint_key":
            raise AnsibleActionFail("%s is set by the action plugin, not by the task" % k)
    preset, fmt = args.get("preset"), args.get("format")
    if bool(preset) == bool(fmt):
        raise AnsibleActionFail("give exactly one of preset (%s) or format (ini, env, properties, json, yaml)"
                                % ", ".join(sorted(PRESETS)))
    if preset and preset not in PRESETS:
        raise AnsibleActionFail("unknown preset %r; choose one of %s" % (preset, ", ".join(sorted(PRESETS))))
    cred = args.get("credential")
    if cred is not None and not isinstance(cred, dict):
        raise AnsibleActionFail("credential must be a credential object (a dict), as vault_credentials returns it")
    try:
        check_types(args.get("smtp"), cred)
    except SettingsError as e:
        raise AnsibleActionFail(str(e))
    if args.get("observe"):
        if fmt and not args.get("path"):
            raise AnsibleActionFail("format %s needs path" % fmt)
        return
    if fmt:
        keys = args.get("keys")
        if not isinstance(keys, dict) or not keys:
            raise AnsibleActionFail("format %s needs keys: a map from logical names to the application's names" % fmt)
        bad = [k for k in keys if k not in LOGICAL]
        if bad:
            raise AnsibleActionFail("keys: %s not logical names; use %s" % (", ".join(map(str, bad)), ", ".join(LOGICAL)))
        if not args.get("path"):
            raise AnsibleActionFail("format %s needs path" % fmt)


def yaml_assignments(args, ctx):
    """[(key, value or DELETE, secret)] of a YAML file, from its keys map; in via_relay mode no login's."""
    if via_relay.is_via_relay(args.get("options")):
        try:
            found = via_relay.generic_assignments("yaml", ctx, args["options"], args["keys"])
        except FormatError as e:
            raise AnsibleActionFail(str(e))
        return [(appkey, value, secret) for appkey, value, secret, _what in found]
    assignments = []
    for logical, appkey in args["keys"].items():
        value = ctx.get(logical)
        if value in (None, ""):
            raise AnsibleActionFail("keys maps %s, but its value is missing or empty (credential or smtp)" % logical)
        assignments.append((appkey, value, logical in SECRET_LOGICAL))
    return assignments


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        check_args(args)
        # In via_relay mode no credential goes to the host at all.
        args = without_unused_credential(args)
        cred = args.get("credential") or {}
        _pipelining.check(self, task_vars, _pipelining.has_secret(cred.get(k) for k in SECRET_FIELDS))
        args["_fingerprint_key"] = _mask.new_key()
        if args.get("format") == "yaml" and not args.get("observe"):
            args.update(self._yaml(args, task_vars))
        mod = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        result.update(mod)
        return result

    def _yaml(self, args, task_vars):
        from ansible_collections.mailops.smtp.plugins.plugin_utils import _yaml_merge
        path = args["path"]
        try:
            ctx = build_context(args.get("smtp"), args.get("credential"))
        except SettingsError as e:
            raise AnsibleActionFail(str(e))
        assignments = yaml_assignments(args, ctx)
        # The module reads the file as it will write it: the same checks (symlink, not a
        # regular file), and the hash it compares under its lock before the rename.
        read_args = dict((k, args[k]) for k in ("path", "follow", "format") if k in args)
        read_args["_read"] = True
        found = self._execute_module(module_name=MODULE, module_args=read_args, task_vars=task_vars)
        if found.get("failed"):
            raise AnsibleActionFail(found.get("msg") or "cannot read %s from the host" % path)
        m = _yaml_merge.merge(found.get("content", ""), assignments, args.get("credential"),
                              args["_fingerprint_key"], path, file_method(args))
        return {"_content": m["content"], "_secret_changed": m["secret_changed"], "_diff_before": m["before"],
                "_diff_after": m["after"], "_deployed": m["deployed"], "_expected_sha256": found["sha256"]}
