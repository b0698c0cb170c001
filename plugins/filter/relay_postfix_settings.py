# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of the smtp_relay role: relay_postfix_settings, relay_mailbox_budget,
relay_submission_endpoint.

One file for the three (named after the first); each is documented in its own .yml beside it.
The decisions are in plugin_utils/_relay.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils._relay import (
    RelayError, mailbox_budget, relay_postfix_settings as _settings, submission_endpoint)


def relay_mailbox_budget(connections, messages_per_minute=30, relays=1, minute_seconds=60):
    try:
        return mailbox_budget(connections, messages_per_minute, relays, minute_seconds)
    except RelayError as e:
        raise AnsibleFilterError(str(e))


def relay_postfix_settings(mode, budget, listen="loopback", allowed_networks=None, recipient_domains=None,
                           helper_argv=None, user="mailops-relay", sender=None, tls=None):
    try:
        return _settings(mode, budget, listen, allowed_networks, recipient_domains, helper_argv, user, sender, tls)
    except RelayError as e:
        raise AnsibleFilterError(str(e))


def relay_submission_endpoint(endpoint="m365"):
    try:
        return submission_endpoint(endpoint)
    except RelayError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {
            "relay_postfix_settings": relay_postfix_settings,
            "relay_mailbox_budget": relay_mailbox_budget,
            "relay_submission_endpoint": relay_submission_endpoint,
        }
