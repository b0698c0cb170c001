# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter migrate_extra_vars_refusal; documented in migrate_extra_vars_refusal.yml. The decision is in
plugins/plugin_utils/_migrate_guard.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils import _migrate_guard as g


def migrate_extra_vars_refusal(values, probe):
    try:
        return g.refusal(dict(values or {}), probe)
    except g.GuardError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"migrate_extra_vars_refusal": migrate_extra_vars_refusal}
