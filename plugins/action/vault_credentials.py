# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin mailops.smtp.vault_credentials: fetch (or store) a credential on the controller.

Its documentation is the stub in plugins/modules/vault_credentials.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import (
    fetch_credentials,
    store_credential,
)
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions

display = Display()


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        # Hidden unless proven safe: a failure below carries only our own
        # message (never a secret value), and users need to read it.
        result["_ansible_no_log"] = True
        warnings = []
        try:
            options = VaultOptions(self._task.args, ACTION_SPEC, warn=warnings.append)
            if options.get("state") == "present":
                result.update(store_credential(options, check_mode=self._task.check_mode))
            else:
                result["credential"] = fetch_credentials(options)[0]
                result["changed"] = False
        except VaultCredentialError as exc:
            result.update(failed=True, msg="vault_credentials: %s" % exc, _ansible_no_log=False)
        except Exception as exc:  # pylint: disable=broad-except
            # An unforeseen error may quote a response; show its type only.
            result.update(failed=True, _ansible_no_log=False,
                          msg="vault_credentials: unexpected %s; see docs/vault.md for troubleshooting"
                              % type(exc).__name__)
        for warning in warnings:
            display.warning(warning)
        return result
