# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vault_credentials
short_description: Read an SMTP credential from HashiCorp Vault or OpenBao
version_added: 0.1.0
description:
  - Reads a KV v1 or v2 secret and returns the SMTP credential it holds, as a basic (username and password)
    or an oauth2 (tenant, client ID and secret) credential object.
  - Returned values are marked unsafe, so Jinja never evaluates them.
  - Lookups run in forked workers, once per host and task; a cache would live in one worker only.
    To fetch once for all hosts, use the M(mailops.smtp.vault_credentials) action with C(run_once=true).
  - Runs on the controller and needs the C(hvac) Python library there.
options:
  _terms:
    description: Secret paths under O(mount), one credential per path (one login for all).
    required: true
    type: list
    elements: str
extends_documentation_fragment:
  - mailops.smtp.vault
  - mailops.smtp.vault.connection
  - mailops.smtp.vault.plugins
requirements:
  - hvac (on the controller)
seealso:
  - module: mailops.smtp.vault_credentials
author:
  - mailops.smtp maintainers (@mailops)
"""

EXAMPLES = r"""
- name: Read the mailer's credential with an AppRole login
  ansible.builtin.set_fact:
    smtp_cred: "{{ lookup('mailops.smtp.vault_credentials', 'smtp/o365-mailer', mount='secret',
                   auth={'method': 'approle', 'role_id': vault_role_id, 'secret_id': vault_secret_id}) }}"
  run_once: true
  no_log: true

- name: Pin version 7 of a KV v2 secret whose fields have other names
  ansible.builtin.set_fact:
    smtp_cred: "{{ lookup('mailops.smtp.vault_credentials', 'smtp/o365-mailer', version=7,
                   fields={'password': 'app_password'}) }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One credential object per term.
  type: list
  elements: dict
  contains:
    type:
      description: V(basic) or V(oauth2).
      type: str
      sample: basic
    username:
      description: The mailbox.
      type: str
      sample: mailer@contoso.com
    password:
      description: The password (basic only).
      type: str
      sample: "********"
    tenant_id:
      description: The Entra tenant (oauth2 only).
      type: str
      sample: 00000000-0000-0000-0000-000000000000
    client_id:
      description: The application (client) ID (oauth2 only).
      type: str
      sample: 11111111-1111-1111-1111-111111111111
    client_secret:
      description: The client secret (oauth2 only).
      type: str
      sample: "********"
    access_token:
      description: An access token, with O(fetch_access_token=true) and an oauth2 credential.
      type: str
      sample: "eyJ0eXAi..."
    expires_at:
      description: When the access token expires, in seconds since the epoch (UTC).
      type: int
      sample: 1790000000
    vault:
      description: Where the credential came from.
      type: dict
      sample: {path: smtp/o365-mailer, mount: secret, kv_version: 2, version: 7,
               created_time: "2026-11-27T14:00:00.000000Z"}
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import fetch_credentials
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import LOOKUP_SPEC, VaultOptions

display = Display()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if not terms:
            raise AnsibleError("vault_credentials: give at least one secret path")
        unknown = sorted(set(kwargs) - set(LOOKUP_SPEC))
        if unknown:
            # A misspelt option must not silently fall back to a default.
            raise AnsibleError("vault_credentials: unsupported option(s) %s; state, data and cas belong to the "
                               "action (module) only" % ", ".join(unknown))
        self.set_options(var_options=variables, direct=kwargs)
        paths = [str(term) for term in terms]
        try:
            options = VaultOptions.from_plugin(self, LOOKUP_SPEC, warn=display.warning, extra={"path": paths[0]})
            return fetch_credentials(options, paths)
        except VaultCredentialError as exc:
            raise AnsibleError("vault_credentials: %s" % exc)
