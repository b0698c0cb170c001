# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: the registry of auth methods, and a session that logs in and revokes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from contextlib import contextmanager

from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_approle import AppRoleAuth
from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_cert import CertAuth
from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_jwt import JwtAuth
from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_token import TokenAuth
from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_userpass import UserpassAuth
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_connection import build_client
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import translate

METHODS = dict((klass.NAME, klass) for klass in (TokenAuth, AppRoleAuth, UserpassAuth, JwtAuth, CertAuth))


def authenticator(options):
    method = options.auth("method", "token")
    auth = METHODS[method](options)
    auth.validate()
    return auth


@contextmanager
def vault_session(options):
    """Yield a logged-in hvac client; revoke the token on exit if this login created it."""
    auth = authenticator(options)
    client = build_client(options)
    url = options.get("url")
    try:
        try:
            auth.login(client)
        except Exception as exc:
            raise translate(exc, "log in with auth method %s at auth/%s" % (auth.NAME, auth.mount), url)
        yield client
    finally:
        if auth.CREATES_TOKEN and client.token:
            try:
                client.auth.token.revoke_self()
            except Exception as exc:  # a failed revoke must not hide the real outcome
                options.warn("could not revoke the Vault token this run created (it expires with its TTL): %s"
                             % translate(exc, "revoke the token", url))
        client.token = None
        try:
            client.adapter.close()
        except Exception:
            pass
