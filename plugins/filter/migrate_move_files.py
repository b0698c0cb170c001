# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters the move of one host decides with (roles/smtp_migrate/tasks/move.yml): migrate_move_files,
migrate_move_settings, migrate_move_proof_apps, migrate_move_proof_failures, migrate_move_outcome,
migrate_move_reloads, migrate_move_interrupted, migrate_move_failed, migrate_move_copy_left,
migrate_move_unchanged and migrate_move_failure.

One file for all (named after the first); each is documented in its own .yml beside it. The logic is in
plugin_utils/_migrate_move.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils import _migrate_move

ROLE_KEYS = {"configure": _migrate_move.CONFIGURE_KEYS, "relay": _migrate_move.RELAY_KEYS}


def _guarded(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _migrate_move.MoveError as e:
            raise AnsibleFilterError(str(e))
    wrapper.__name__ = func.__name__
    return wrapper


def migrate_move_settings(defaults, host_vars, role, given=None):
    if role not in ROLE_KEYS:
        raise AnsibleFilterError("role must be one of %s, not %r" % (", ".join(sorted(ROLE_KEYS)), role))
    return _migrate_move.effective(ROLE_KEYS[role], defaults, host_vars, given)


def migrate_move_outcome(apps, proof=None, restore=None, failure=None, host=None, reloads=None, saved_copy=None):
    if failure is None:
        return _migrate_move.moved(apps, proof)
    return _migrate_move.restored(apps, proof, restore, failure, host, reloads, saved_copy)


class FilterModule(object):
    def filters(self):
        return {
            "migrate_move_files": _guarded(_migrate_move.move_files),
            "migrate_move_settings": _guarded(migrate_move_settings),
            "migrate_move_proof_apps": _guarded(_migrate_move.proof_apps),
            "migrate_move_proof_failures": _migrate_move.proof_failures,
            "migrate_move_outcome": migrate_move_outcome,
            "migrate_move_reloads": _guarded(_migrate_move.restore_reloads),
            "migrate_move_interrupted": _migrate_move.interrupted_copies,
            "migrate_move_failed": _migrate_move.failed_move,
            "migrate_move_copy_left": _migrate_move.copy_left,
            "migrate_move_unchanged": _migrate_move.unchanged,
            "migrate_move_failure": _migrate_move.failure_reason,
        }
