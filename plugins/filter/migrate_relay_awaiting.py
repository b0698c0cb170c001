# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of a proof through a designated relay: migrate_relay_awaiting, migrate_relay_reader and
migrate_relay_verdicts.

One file for both (named after the first); each is documented in its own .yml beside it. The logic is in
plugin_utils/_migrate_relay_proof.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils import _migrate_relay_proof


class FilterModule(object):
    def filters(self):
        return {
            "migrate_relay_awaiting": _migrate_relay_proof.awaiting_by_relay,
            "migrate_relay_reader": _migrate_relay_proof.batch_reader,
            "migrate_relay_verdicts": _migrate_relay_proof.with_relay_verdicts,
        }
