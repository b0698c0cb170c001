# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: Vault AppRole login, with an optional response-wrapped secret_id."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_base import AuthMethodBase
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError


class AppRoleAuth(AuthMethodBase):
    NAME = "approle"
    DEFAULT_MOUNT = "approle"
    REQUIRED = ("role_id",)

    def _unwrap_secret_id(self, client, wrapping_token):
        # The wrapping token is the request's own token, so the unwrap needs
        # no other credential; it works exactly once.
        client.token = wrapping_token
        try:
            response = client.sys.unwrap()
        except Exception as exc:  # hvac raises per status; all mean the same here
            if type(exc).__name__ in ("InvalidRequest", "Forbidden", "InvalidPath"):
                raise VaultCredentialError(
                    "cannot unwrap the wrapped secret_id: the wrapping token is invalid, expired or was already "
                    "used (it works once). Wrap a new secret_id, and fetch it once per run (run_once: true)")
            raise
        finally:
            client.token = None
        secret_id = ((response or {}).get("data") or {}).get("secret_id")
        if not secret_id:
            raise VaultCredentialError("the wrapped response holds no secret_id; wrap the output of "
                                       "auth/<mount>/role/<role>/secret-id")
        return secret_id

    def login(self, client):
        opts = self.options
        secret_id = opts.auth("secret_id")
        if opts.auth("secret_id_wrapped"):
            if not secret_id:
                raise VaultCredentialError("auth.secret_id_wrapped is true but auth.secret_id (the wrapping "
                                           "token) is empty")
            secret_id = self._unwrap_secret_id(client, secret_id)
        response = client.auth.approle.login(
            role_id=opts.auth("role_id"), secret_id=secret_id, mount_point=self.mount)
        self.check_login(response, "AppRole")
