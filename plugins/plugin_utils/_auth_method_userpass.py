# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: Vault userpass login."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_base import AuthMethodBase


class UserpassAuth(AuthMethodBase):
    NAME = "userpass"
    DEFAULT_MOUNT = "userpass"
    REQUIRED = ("username", "password")

    def login(self, client):
        response = client.auth.userpass.login(
            username=self.options.auth("username"), password=self.options.auth("password"),
            mount_point=self.mount)
        self.check_login(response, "userpass")
