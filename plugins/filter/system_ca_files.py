# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter system_ca_files (smtp_configure role); documented in system_ca_files.yml.

The decisions are in plugin_utils/_trust_store.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils._trust_store import (
    DEFAULT_DIR, TrustStoreError, system_ca_files as _files)


def system_ca_files(items, directory=DEFAULT_DIR):
    try:
        return _files(items, directory)
    except TrustStoreError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {"system_ca_files": system_ca_files}
