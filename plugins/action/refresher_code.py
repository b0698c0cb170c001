# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller half of mailops.smtp.refresher_code: reads the files from the collection.

What the refresher runs is listed here and nowhere else; the host gets every file in one module call
rather than one copy task per file (a copy is several round trips each).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "python/ansible_collections/mailops/smtp/plugins/module_utils"
# The modules the refresher imports, from plugins/module_utils.
MODULE_UTILS = ("oauth.py", "profiles.py", "_atomic.py")
REFRESHER = ("roles/smtp_configure/files/refresh-token", "refresh-token")
RELAY_HELPER = ("roles/smtp_relay/files/relay-send", "relay-send")
MODE = "0644"


def package_inits():
    """The empty __init__.py of each package level down to module_utils."""
    parts = PACKAGE.split("/")
    return ["/".join(parts[:i] + ["__init__.py"]) for i in range(2, len(parts) + 1)]


def sources(relay_helper):
    """[(source under the collection, path under dest)], None as source for an empty file."""
    out = [(None, p) for p in package_inits()]
    out += [("plugins/module_utils/" + name, PACKAGE + "/" + name) for name in MODULE_UTILS]
    out.append(REFRESHER)
    if relay_helper:
        out.append(RELAY_HELPER)
    return out


def read_source(rel):
    path = os.path.join(COLLECTION, rel)
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AnsibleActionFail("cannot read %s from the collection (%s): reinstall mailops.smtp" % (rel, e))


def files(relay_helper):
    return [{"path": dest, "content": read_source(src) if src else "", "mode": MODE}
            for src, dest in sources(relay_helper)]


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if args.get("files"):
            raise AnsibleActionFail("files is set by the action plugin from the collection; give dest and "
                                    "relay_helper only")
        args["files"] = files(boolean(args.get("relay_helper", False), strict=True))
        result.update(self._execute_module(module_name="mailops.smtp.refresher_code", module_args=args,
                                           task_vars=task_vars))
        return result
