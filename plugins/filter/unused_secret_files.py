# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of secret files left behind by a change of mode: unused_secret_files, rotate_leftovers.

One file for the two (named after the first); each is documented in its own .yml beside it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.module_utils._leftovers import unused_items
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import rotate_leftovers


def unused_secret_files(apps, refresher_config_dir="/etc/mailops-smtp"):
    return unused_items(apps or [], refresher_config_dir)


class FilterModule(object):
    def filters(self):
        return {
            "unused_secret_files": unused_secret_files,
            "rotate_leftovers": rotate_leftovers,
        }
