# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters that say what a rotation covers on a host: rotate_apps, rotate_relay and rotate_inspected.

One file for all (named after the first); each is documented in its own .yml beside it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation_apps import (
    RotationAppsError,
    rotate_apps,
    rotate_inspected,
    rotate_relay,
)


def _rotate_relay(*args, **kwargs):
    try:
        return rotate_relay(*args, **kwargs)
    except RotationAppsError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {
            "rotate_apps": rotate_apps,
            "rotate_relay": _rotate_relay,
            "rotate_inspected": rotate_inspected,
        }
