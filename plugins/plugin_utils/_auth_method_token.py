# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: Vault auth with a token the user already has."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_base import AuthMethodBase
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError


def _read_token_file(path, what):
    try:
        with open(path, "r") as fh:
            token = fh.read().strip()
    except (IOError, OSError) as exc:
        raise VaultCredentialError("cannot read the Vault token from %s (%s): %s"
                                   % (what, path, exc.strerror or exc))
    if not token:
        raise VaultCredentialError("the Vault token file %s (%s) is empty" % (path, what))
    return token


class TokenAuth(AuthMethodBase):
    NAME = "token"
    DEFAULT_MOUNT = "token"
    CREATES_TOKEN = False

    def resolve_token(self):
        """Precedence: auth.token, auth.token_file, VAULT_TOKEN/BAO_TOKEN, ~/.vault-token."""
        opts = self.options
        if opts.auth("token"):
            return opts.auth("token")
        if opts.auth("token_file"):
            return _read_token_file(opts.auth("token_file"), "auth.token_file")
        env = opts.environ
        for name in ("VAULT_TOKEN", "BAO_TOKEN"):
            if env.get(name):
                return env[name].strip()
        home = env.get("HOME") or os.path.expanduser("~")
        default_file = os.path.join(home, ".vault-token")
        if os.path.isfile(default_file):
            return _read_token_file(default_file, "~/.vault-token")
        raise VaultCredentialError(
            "no Vault token: give auth.token or auth.token_file, set VAULT_TOKEN (or BAO_TOKEN), "
            "run 'bao login' / 'vault login' to write ~/.vault-token, or choose another auth.method")

    def validate(self):
        self.resolve_token()

    def login(self, client):
        client.token = self.resolve_token()
