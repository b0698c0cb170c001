# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a module's secret argument travels: stdin with pipelining, a file in remote_tmp without.

Internal use only. Without pipelining Ansible copies the module, its arguments
included, as a file into the remote user's remote_tmp and deletes it after the
run; a run killed meanwhile leaves the secret there in plain text. An action
plugin that sends a secret calls check() before it runs its module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

REQUIRE_VAR = "mailops_smtp_require_pipelining"

# One text for every host and task: Ansible shows a repeated warning once per run.
WARNING = (
    "mailops.smtp: pipelining is off, so Ansible copies each module that carries a secret (the secret "
    "in plain text among its arguments) as a file into the remote user's remote_tmp (~/.ansible/tmp by "
    "default) while it runs; a run killed meanwhile leaves that file behind. Enable pipelining "
    "(ANSIBLE_PIPELINING=true, pipelining = True under [connection] in ansible.cfg, or the variable "
    "ansible_pipelining: true; with become, requiretty must be off in sudoers), or set "
    "%s: true to refuse such tasks." % REQUIRE_VAR)

REFUSAL = (
    "%s is true and pipelining is off for this host, so the secret of this task would be written to a "
    "file in remote_tmp; nothing was sent. Enable pipelining (ANSIBLE_PIPELINING=true, pipelining = True "
    "under [connection] in ansible.cfg, or ansible_pipelining: true)." % REQUIRE_VAR)


def has_secret(values):
    """Whether any of these values (a credential or auth dict, say) is a secret that is set."""
    return any(v not in (None, "") for v in values)


def check(action, task_vars, secret_present):
    """Warn once per run, or refuse when required, if a secret would be staged as a file."""
    if not secret_present or action._is_pipelining_enabled("new"):
        return
    required = (task_vars or {}).get(REQUIRE_VAR, False)
    if action._templar is not None and isinstance(required, str):
        required = action._templar.template(required)
    try:
        required = boolean(required, strict=True)
    except TypeError:
        raise AnsibleActionFail("%s must be true or false" % REQUIRE_VAR)
    if required:
        raise AnsibleActionFail(REFUSAL)
    Display().warning(WARNING)
