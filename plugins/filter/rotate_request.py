# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters the smtp_rotate role decides with: rotate_request, rotate_report_differs, rotate_holds.

One file for the three (named after the first); each is documented in its own .yml beside it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import (
    rotate_holds,
    rotate_report_differs,
    rotate_request,
)


class FilterModule(object):
    def filters(self):
        return {
            "rotate_request": rotate_request,
            "rotate_report_differs": rotate_report_differs,
            "rotate_holds": rotate_holds,
        }
