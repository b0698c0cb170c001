# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: Vault TLS certificate login."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_base import AuthMethodBase
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError


class CertAuth(AuthMethodBase):
    NAME = "cert"
    DEFAULT_MOUNT = "cert"
    REQUIRED = ("cert_path", "key_path")

    def validate(self):
        super(CertAuth, self).validate()
        if not self.options.get("url", "").startswith("https://"):
            raise VaultCredentialError("auth method cert needs an https:// url: the certificate is presented "
                                       "in the TLS handshake")
        for name in ("cert_path", "key_path"):
            if not os.path.isfile(self.options.auth(name)):
                raise VaultCredentialError("auth.%s %s is not a readable file" % (name, self.options.auth(name)))

    def login(self, client):
        # hvac's cert helper insists on re-validating CA settings; the plain
        # login call with a per-request client certificate is all Vault needs.
        body = {}
        if self.options.auth("role"):
            body["name"] = self.options.auth("role")
        response = client.login(
            "/v1/auth/%s/login" % self.mount, json=body,
            cert=(self.options.auth("cert_path"), self.options.auth("key_path")))
        self.check_login(response, "certificate")
