# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller half of mailops.smtp.host_settings: the checks of mailops.smtp.settings for every app
before anything reaches the host, one fingerprint key for the run, and the YAML merges."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.mailops.smtp.plugins.action.settings import INTERNAL, SECRET_FIELDS, check_args
from ansible_collections.mailops.smtp.plugins.action.settings import ActionModule as SettingsAction
from ansible_collections.mailops.smtp.plugins.module_utils import _mask
from ansible_collections.mailops.smtp.plugins.plugin_utils import _pipelining

MODULE = "mailops.smtp.host_settings"
NOTHING_WRITTEN = "no file of this host was written"


def uses_credential(app):
    try:
        return boolean(app.get("credential", True), strict=True)
    except TypeError:
        raise AnsibleActionFail("apps: %s: credential must be true or false" % app.get("name"))


def settings_args(app, credential):
    """The arguments mailops.smtp.settings would get for this app."""
    out = dict((k, v) for k, v in app.items() if k not in ("name", "credential"))
    out["credential"] = credential if uses_credential(app) else None
    return out


def check_apps(apps, credential, observe=False):
    """Refuse the whole task, naming the app, when any app would be refused by mailops.smtp.settings."""
    if not isinstance(apps, list) or not apps:
        raise AnsibleActionFail("apps must be a non-empty list of applications")
    names = set()
    for app in apps:
        if not isinstance(app, dict) or not app.get("name"):
            raise AnsibleActionFail("apps: each application is a dict with a name")
        if app["name"] in names:
            raise AnsibleActionFail("apps: the name %r is given twice; names tell the apps apart" % app["name"])
        names.add(app["name"])
        for k in INTERNAL:
            if k in app:
                raise AnsibleActionFail("%s is set by the action plugin, not by the task" % k)
        try:
            one = settings_args(app, credential)
            if observe:
                one["observe"] = True
            check_args(one)
        except AnsibleActionFail as e:
            raise AnsibleActionFail("%s: %s; %s" % (app["name"], e.message, NOTHING_WRITTEN))


class ActionModule(SettingsAction):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = ActionBase.run(self, tmp, task_vars)
        args = dict(self._task.args)
        for k in INTERNAL:
            if k in args:
                raise AnsibleActionFail("%s is set by the action plugin, not by the task" % k)
        apps = [dict(a) if isinstance(a, dict) else a for a in args.get("apps") or []]
        cred = args.get("credential")
        if cred is not None and not isinstance(cred, dict):
            raise AnsibleActionFail("credential must be a credential object (a dict), as vault_credentials returns it")
        observe = bool(args.get("observe"))
        check_apps(apps, cred, observe)
        _pipelining.check(self, task_vars, _pipelining.has_secret((cred or {}).get(k) for k in SECRET_FIELDS))
        key = _mask.new_key()
        for app in apps:
            if app.get("format") == "yaml" and not observe:
                one = dict(settings_args(app, cred), _fingerprint_key=key)
                try:
                    app.update(self._yaml(one, task_vars))
                except AnsibleActionFail as e:
                    raise AnsibleActionFail("%s: %s; %s" % (app["name"], e.message, NOTHING_WRITTEN))
        args.update(apps=apps, _fingerprint_key=key)
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
