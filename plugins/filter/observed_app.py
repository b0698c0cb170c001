# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of the observed way of applications: observed_app, observe_items.

One file for the two (named after the first); each is documented in its own .yml beside it. The logic
is plugin_utils/_observed.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils import _observed


class FilterModule(object):
    def filters(self):
        return {
            "observed_app": _observed.observed_app,
            "observe_items": _observed.observe_items,
        }
