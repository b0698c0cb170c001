# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: what every Vault auth method shares."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError


class AuthMethodBase:
    NAME = None
    DEFAULT_MOUNT = None
    REQUIRED = ()
    # Logins create a token that this run owns and must revoke; a supplied
    # token belongs to the user and is left alone.
    CREATES_TOKEN = True

    def __init__(self, options):
        self.options = options

    @property
    def mount(self):
        return (self.options.auth("mount") or self.DEFAULT_MOUNT).strip("/")

    def validate(self):
        missing = [name for name in self.REQUIRED if not self.options.auth(name)]
        if missing:
            raise VaultCredentialError(
                "auth method %s needs %s under auth" % (self.NAME, ", ".join("auth." + m for m in missing)))

    def login(self, client):
        raise NotImplementedError

    @staticmethod
    def check_login(response, what):
        token = (response or {}).get("auth", {}).get("client_token") if isinstance(response, dict) else None
        if not token:
            raise VaultCredentialError("%s login returned no token" % what)
        return token
