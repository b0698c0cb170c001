# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin mailops.smtp.fleet_lock: take, renew, release or inspect a credential's fleet lock in Vault.

Its documentation is the stub in plugins/modules/fleet_lock.py; the logic is plugin_utils/_fleet_lock.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import socket

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mailops.smtp.plugins.plugin_utils._fleet_lock import (
    ACTIONS,
    DEFAULT_TTL,
    FleetLock,
    run_action,
)
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_auth import vault_session
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import CONNECTION_SPEC, VaultOptions

display = Display()

LOCK_SPEC = dict(
    CONNECTION_SPEC,
    path=dict(type="str", required=True),
    mount=dict(type="str", default="secret"),
    action=dict(type="str", default="status", choices=list(ACTIONS)),
    run_id=dict(type="str"),
    ttl=dict(type="int", default=DEFAULT_TTL),
    break_lock=dict(type="str"),
    user=dict(type="str"),
)


def _controller_user():
    try:
        return getpass.getuser()
    # Some containers run under a uid with no login name.
    except Exception:  # pylint: disable=broad-except
        return "unknown"


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        warnings = []
        try:
            options = VaultOptions(self._task.args, LOCK_SPEC, warn=warnings.append)
            if options.get("ttl") < 60:
                raise VaultCredentialError("ttl must be at least 60 seconds (the lock is renewed once per batch)")
            with vault_session(options) as client:
                lock = FleetLock(client, options.get("mount"), options.get("path"), url=options.get("url"))
                result.update(run_action(
                    lock, options.get("action"), run_id=options.get("run_id"),
                    user=options.get("user") or _controller_user(), host=socket.gethostname(),
                    ttl=options.get("ttl"), break_lock=options.get("break_lock"),
                    check_mode=self._task.check_mode))
        except VaultCredentialError as exc:
            result.update(failed=True, msg="fleet_lock: %s" % exc)
        except Exception as exc:  # pylint: disable=broad-except
            # An unforeseen error may quote a response; show its type only.
            result.update(failed=True, msg="fleet_lock: unexpected %s; see docs/vault.md for troubleshooting"
                                           % type(exc).__name__)
        for warning in warnings:
            display.warning(warning)
        return result
