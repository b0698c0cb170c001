# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of the smtp_validate role for relays: validate_relay_checks, validate_relay_login.

One file for the two (named after the first); each is documented in its own .yml beside it. The logic is
in plugin_utils/_relay_paths.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils._relay_paths import RelayPathError, relay_checks, relay_login


def validate_relay_checks(apps, upstream=None, listen=None, connector_host=None, tenant=None, relay_upstream=None):
    try:
        return relay_checks(apps, upstream, listen, connector_host, tenant, explicit=relay_upstream)
    except (RelayPathError, ValueError) as e:
        raise AnsibleFilterError(str(e))


def validate_relay_login(credential, mode):
    return relay_login(credential, mode)


class FilterModule(object):
    def filters(self):
        return {"validate_relay_checks": validate_relay_checks, "validate_relay_login": validate_relay_login}
