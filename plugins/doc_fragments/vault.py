# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection and auth options: every plugin that talks to Vault extends this fragment
    # (mailops.smtp.fleet_lock without the secret-layout options of DOCUMENTATION). Fragments
    # must be string literals (ansible-test reads them without running them), hence two.
    CONNECTION = r"""
options:
  url:
    description:
      - Vault or OpenBao address, for example V(https://vault.example.com:8200).
      - Falls back to E(VAULT_ADDR), then E(BAO_ADDR).
    type: str
  namespace:
    description: Vault namespace. Falls back to E(VAULT_NAMESPACE), then E(BAO_NAMESPACE).
    type: str
  ca_path:
    description:
      - CA bundle that verifies the Vault server certificate. Falls back to E(VAULT_CACERT), then E(BAO_CACERT).
    type: path
  validate_certs:
    description:
      - Verify the Vault server certificate.
      - When not set, it is V(true) unless E(VAULT_SKIP_VERIFY) (or E(BAO_SKIP_VERIFY)) is true, which gives a warning.
    type: bool
  timeout:
    description: Seconds to wait for each Vault request.
    type: int
    default: 10
  retries:
    description:
      - How many times to retry a Vault request after a connection error or HTTP 412, 429, 500, 502 or 503,
        with exponential backoff and jitter. V(0) disables retries; at most 10.
      - The same bound applies to the OAuth token request.
    type: int
    default: 3
  auth:
    description:
      - How to log in to Vault. Without it, the token method is used.
      - A token created by a login (every method but V(token)) is revoked when the plugin is done.
    type: dict
    default: {}
    suboptions:
      method:
        description: The auth method.
        type: str
        choices: [token, approle, userpass, jwt, cert]
        default: token
      mount:
        description: Mount point of the auth method; defaults to the method's name.
        type: str
      token:
        description:
          - Vault token (method V(token)).
          - Precedence is this option, O(auth.token_file), E(VAULT_TOKEN) / E(BAO_TOKEN), then C(~/.vault-token).
        type: str
      token_file:
        description: File holding the Vault token (method V(token)).
        type: path
      role_id:
        description: AppRole role ID.
        type: str
      secret_id:
        description: AppRole secret ID, or the wrapping token when O(auth.secret_id_wrapped=true).
        type: str
      secret_id_wrapped:
        description:
          - O(auth.secret_id) is a response-wrapping token to unwrap first.
          - It unwraps only once, so use it with the action and C(run_once), not with a lookup.
        type: bool
        default: false
      username:
        description: Userpass username.
        type: str
      password:
        description: Userpass password.
        type: str
      role:
        description: JWT role, or the certificate role name for method V(cert).
        type: str
      jwt:
        description: The signed JWT (Kubernetes service account token, CI OIDC token).
        type: str
      cert_path:
        description: Client certificate (PEM) for method V(cert); needs an C(https://) url.
        type: path
      key_path:
        description: Private key (PEM) of O(auth.cert_path).
        type: path
"""

    # Secret-layout options shared by the vault_credentials lookup and action (with CONNECTION).
    DOCUMENTATION = r"""
options:
  mount:
    description: Mount point of the KV secrets engine.
    type: str
    default: secret
  kv_version:
    description: Version of the KV secrets engine at O(mount).
    type: int
    choices: [1, 2]
    default: 2
  version:
    description:
      - Read this version of the secret instead of the latest (KV v2 only).
      - Needed when the latest version is deleted or destroyed; the error names the version to pin.
    type: int
  fields:
    description:
      - "Renames of the default field names, as C(credential_field: secret_key)."
      - The credential fields are C(username), C(password), C(tenant_id), C(client_id) and C(client_secret).
    type: dict
    default: {}
  type:
    description:
      - The credential type. V(auto) detects it from the fields present.
      - Set V(basic) or V(oauth2) when a secret holds both field sets.
      - An V(oauth2) credential needs C(username) too, the mailbox that XOAUTH2 names in C(user=).
    type: str
    choices: [auto, basic, oauth2]
    default: auto
  fetch_access_token:
    description:
      - For an V(oauth2) credential, also get an access token with the client-credentials grant
        and return it as C(access_token) with C(expires_at).
    type: bool
    default: false
  profile:
    description:
      - Profile that gives the OAuth authority and scope (see the mailops.smtp profile table).
      - Ignored when both O(oauth_authority) and O(oauth_scope) are given.
    type: str
    default: m365
  oauth_authority:
    description: OAuth authority base URL, for example V(https://login.microsoftonline.com). Overrides O(profile).
    type: str
  oauth_scope:
    description: OAuth scope. Overrides O(profile).
    type: str
  oauth_ca_path:
    description: A CA bundle trusted in addition to the system store for the OAuth token endpoint.
    type: path
"""

    # Plugin-only sources: the lookup reads these from the controller's
    # environment and ansible.cfg; the action reads the same variables in code.
    PLUGINS = r"""
options:
  url:
    env:
      # The last one set wins: VAULT_* over BAO_*, as in the action.
      - name: BAO_ADDR
      - name: VAULT_ADDR
    ini:
      - section: mailops_vault
        key: url
  namespace:
    env:
      # The last one set wins: VAULT_* over BAO_*, as in the action.
      - name: BAO_NAMESPACE
      - name: VAULT_NAMESPACE
    ini:
      - section: mailops_vault
        key: namespace
  ca_path:
    env:
      # The last one set wins: VAULT_* over BAO_*, as in the action.
      - name: BAO_CACERT
      - name: VAULT_CACERT
    ini:
      - section: mailops_vault
        key: ca_path
  timeout:
    ini:
      - section: mailops_vault
        key: timeout
  retries:
    ini:
      - section: mailops_vault
        key: retries
"""
