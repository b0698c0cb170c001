# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters the smtp_configure role decides with: configure_apps, configure_items, configure_reloads,
configure_refresher_apps, configure_canary, configure_credential_hosts, configure_preflight_failures and
configure_unwritable.

One file for all (named after the first); each is documented in its own .yml beside it. The logic is in
plugin_utils/_configure.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils import _configure, _writable


def configure_canary(hosts, hostvars, plan_var="smtp_configure__plan"):
    return _configure.canary_host(hosts, hostvars, plan_var)


def configure_credential_hosts(hosts, hostvars, flag_var="smtp_configure__needs_credential"):
    return _configure.hosts_needing_credential(hosts, hostvars, flag_var)


class FilterModule(object):
    def filters(self):
        return {
            "configure_apps": _configure.configure_apps,
            "configure_items": _configure.settings_items,
            "configure_packages": _configure.packages_for,
            "configure_reloads": _configure.reloads,
            "configure_refresher_apps": _configure.refresher_apps,
            "configure_canary": configure_canary,
            "configure_credential_hosts": configure_credential_hosts,
            "configure_preflight_failures": _configure.preflight_failures,
            "configure_unwritable": _writable.unwritable,
        }
