# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation only: the code is the action plugin of the same name, which
# runs on the controller (hvac is never needed on a target).

DOCUMENTATION = r"""
module: vault_credentials
short_description: Fetch or store an SMTP credential in HashiCorp Vault or OpenBao
version_added: 0.1.0
description:
  - Reads a KV v1 or v2 secret and returns the SMTP credential it holds as RV(credential),
    a basic (username and password) or an oauth2 (tenant, client ID and secret) credential object.
  - This is an action plugin. It runs on the controller, needs C(hvac) there, and needs no C(delegate_to).
  - Its result is marked C(no_log), so the credential never shows in any output at any verbosity,
    while the registered variable keeps it. Returned values are marked unsafe.
  - Use it with C(run_once=true) to fetch once for all hosts; with AppRole that is one login,
    one read per secret and one token revocation, whatever the number of hosts.
  - With O(state=present), writes O(data) as a new version when it differs from the current one.
options:
  path:
    description: Secret path under O(mount).
    type: str
    required: true
  state:
    description:
      - V(read) returns the credential.
      - V(present) stores O(data) as a new version when it differs (for rotation).
    type: str
    choices: [read, present]
    default: read
  data:
    description: The fields to store with O(state=present), for example C(username) and C(password).
    type: dict
  cas:
    description:
      - Check-and-set for KV v2 writes; the write happens only if the current version is this number.
      - V(0) writes only if the secret does not exist yet.
    type: int
extends_documentation_fragment:
  - mailops.smtp.vault
  - mailops.smtp.vault.connection
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_controller
  - mailops.smtp.attributes.action_group_vault
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  check_mode:
    details: With O(state=present), reports whether the data would change and writes nothing.
    support: full
  diff_mode:
    details: No diff is shown; the data is secret.
    support: none
  async:
    support: none
    description: Not supported.
notes:
  - A response-wrapped AppRole secret ID unwraps only once; use it with C(run_once=true).
requirements:
  - hvac (on the controller)
seealso:
  - plugin: mailops.smtp.vault_credentials
    plugin_type: lookup
author:
  - mailops.smtp maintainers (@mailops)
"""

EXAMPLES = r"""
- name: Fetch the mailer credential once for every host
  mailops.smtp.vault_credentials:
    path: smtp/o365-mailer
    url: https://vault.example.com:8200
    ca_path: /etc/ssl/vault-ca.pem
    auth:
      method: approle
      role_id: "{{ vault_role_id }}"
      secret_id: "{{ vault_secret_id }}"
  run_once: true
  register: smtp_cred

- name: Fetch an app credential and an access token for XOAUTH2
  mailops.smtp.vault_credentials:
    path: smtp/o365-app
    type: oauth2
    fetch_access_token: true
    profile: m365
  run_once: true
  register: smtp_app

- name: Rotate the password, only if the current version is 6
  mailops.smtp.vault_credentials:
    path: smtp/o365-mailer
    state: present
    data:
      username: mailer@contoso.com
      password: "{{ new_password }}"
    cas: 6
  run_once: true
"""

RETURN = r"""
credential:
  description: The credential object (O(state=read)).
  returned: success and state is read
  type: dict
  contains:
    type:
      description: V(basic) or V(oauth2).
      type: str
      sample: basic
    username:
      description: The mailbox (for oauth2, the one XOAUTH2 names in C(user=)).
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
vault:
  description: The secret version written, or that would be written (O(state=present)); never the data.
  returned: state is present
  type: dict
  sample: {path: smtp/o365-mailer, mount: secret, kv_version: 2, version: 8,
           created_time: "2026-11-27T14:00:00.000000Z"}
"""
