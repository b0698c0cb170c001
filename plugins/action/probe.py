# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller half of mailops.smtp.probe: paces test messages per mailbox (send_per_minute).

Without send_per_minute, or without send, or in check mode (which sends nothing), the module
runs as it would without this plugin. A task with a password or token warns (or, with
mailops_smtp_require_pipelining, refuses) when pipelining is off (see _pipelining).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mailops.smtp.plugins.plugin_utils import _pipelining

# However long a host waits for its slot: a fleet of several hundred hosts at 30 a minute.
SLOT_TIMEOUT = 3600


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        auth = args.get("auth") if isinstance(args.get("auth"), dict) else {}
        _pipelining.check(self, task_vars, _pipelining.has_secret([auth.get("password"), auth.get("access_token")]))
        per_minute = args.pop("send_per_minute", None)
        send = args.get("send")
        if per_minute is None or not send or self._task.check_mode:
            result.update(self._execute_module(module_args=args, task_vars=task_vars))
            return result

        from ansible_collections.mailops.smtp.plugins.plugin_utils._send_pacer import PacerError, SendPacer
        mailbox = auth.get("username") or (send.get("from") if isinstance(send, dict) else None)
        if not mailbox:
            raise AnsibleActionFail("send_per_minute paces the messages of one mailbox: give auth.username "
                                    "or send.from")
        try:
            per_minute = int(per_minute)
            # The controller's local tmp root, not this run's own directory: a second run within
            # the minute shares the mailbox's budget too.
            pacer = SendPacer(os.path.dirname(C.DEFAULT_LOCAL_TMP), str(mailbox), per_minute)
            slot = pacer.acquire(SLOT_TIMEOUT)
        except (ValueError, TypeError):
            raise AnsibleActionFail("send_per_minute must be a whole number of at least 1")
        except PacerError as exc:
            raise AnsibleActionFail(str(exc))
        try:
            result.update(self._execute_module(module_args=args, task_vars=task_vars))
        finally:
            pacer.release(slot)
        return result
