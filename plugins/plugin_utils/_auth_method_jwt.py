# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: Vault JWT/OIDC login (Kubernetes service accounts, CI OIDC tokens)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_base import AuthMethodBase


class JwtAuth(AuthMethodBase):
    NAME = "jwt"
    DEFAULT_MOUNT = "jwt"
    REQUIRED = ("role", "jwt")

    def login(self, client):
        response = client.auth.jwt.jwt_login(
            role=self.options.auth("role"), jwt=self.options.auth("jwt"), path=self.mount)
        self.check_login(response, "JWT")
