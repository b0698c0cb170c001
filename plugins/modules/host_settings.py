#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_settings
short_description: Write the SMTP settings of every application of a host at once, all or nothing
version_added: 0.1.0
description:
  - Does for a list of applications what M(mailops.smtp.settings) does for one, in one module run.
  - "All or nothing: every application's parameters are checked and every file merged in memory before
    anything is written; then a candidate of every changed file is staged and checked (C(postmap),
    C(postconf), O(apps[].validate)); only when all passed are they renamed into place. An application
    refused for any reason leaves every file of the host as it was, and the message names the application."
  - "In check mode this is the plan of a change: RV(apps) says which application would change, RV(changed)
    whether any would, and nothing is written. The P(mailops.smtp.smtp_configure#role) role runs it so first, and
    only the hosts with something to write go on to log in, write and reload."
  - Two applications of one run may not write the same file; give that file's keys in one application.
  - The same escaping, drift marker, atomic replacement, directory locks, symlink rules and masked diffs
    as M(mailops.smtp.settings); see there. No reload command runs, the role reloads through its handlers.
  - O(packages) and O(unused) are only looked up, for the role to decide on its next tasks without a module
    run of its own; nothing is installed or removed.
author:
  - mailops.smtp maintainers (@mailops)
requirements:
  - ruamel.yaml (on the controller, for O(apps[].format=yaml) only)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
  - mailops.smtp.attributes.action_group_smtp
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Secret lines and values show as C(fingerprint:<hmac>), never as the secret.
options:
  apps:
    description: The applications, each with the options of M(mailops.smtp.settings) for one application.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The application's name, in RV(apps) and in messages.
        type: str
        required: true
      preset:
        description: As O(mailops.smtp.settings#module:preset).
        type: str
        choices: [postfix, msmtp, grafana, gitlab, spring, laravel, django, nextcloud]
      format:
        description: As O(mailops.smtp.settings#module:format).
        type: str
        choices: [ini, env, properties, json, yaml]
      path:
        description: As O(mailops.smtp.settings#module:path).
        type: path
      keys:
        description: As O(mailops.smtp.settings#module:keys).
        type: dict
      section:
        description: As O(mailops.smtp.settings#module:section).
        type: str
      options:
        description: As O(mailops.smtp.settings#module:options).
        type: dict
        default: {}
      smtp:
        description: As O(mailops.smtp.settings#module:smtp).
        type: dict
        default: {}
      credential:
        description:
          - Whether this application gets O(credential). False for an application that authenticates otherwise
            (Postfix relaying through a connector).
        type: bool
        default: true
      owner:
        description: As O(mailops.smtp.settings#module:owner).
        type: str
      group:
        description: As O(mailops.smtp.settings#module:group).
        type: str
      mode:
        description: As O(mailops.smtp.settings#module:mode).
        type: raw
      follow:
        description: As O(mailops.smtp.settings#module:follow).
        type: bool
        default: false
      backup:
        description: As O(mailops.smtp.settings#module:backup).
        type: bool
        default: false
      create:
        description: As O(mailops.smtp.settings#module:create).
        type: bool
        default: true
      validate:
        description: As O(mailops.smtp.settings#module:validate).
        type: str
  credential:
    description:
      - A credential object as M(mailops.smtp.vault_credentials) returns it, for every application whose
        O(apps[].credential) is true.
    type: dict
    suboptions:
      type:
        description: V(basic) or V(oauth2).
        type: str
        choices: [basic, oauth2]
      username:
        description: The mailbox, a string.
        type: raw
      password:
        description: The password (basic), a string.
        type: raw
      tenant_id:
        description: The Entra tenant (oauth2), a string.
        type: raw
      client_id:
        description: The app registration (oauth2), a string.
        type: raw
      client_secret:
        description: The client secret (oauth2), a string.
        type: raw
      access_token:
        description: Not written anywhere; accepted because vault_credentials may return it.
        type: raw
      expires_at:
        description: Not written anywhere; accepted because vault_credentials may return it.
        type: raw
      vault:
        description: Vault metadata for the drift marker.
        type: dict
  observe:
    description:
      - "Only read what each application's files say now, as O(mailops.smtp.settings#module:observe) does for
        one: nothing is planned or written, and no O(credential) is needed. Each entry of RV(apps) then holds
        C(name) and C(observed) (see RV(mailops.smtp.settings#module:observed))."
      - The C(smtp_validate) role runs it once per host, with C(become) (its C(smtp_validate_become)).
    type: bool
    default: false
  packages:
    description: Packages to look up (C(dpkg-query) or C(rpm)); the ones not installed are in RV(missing_packages).
    type: list
    elements: str
    default: []
  unused:
    description:
      - Items as O(mailops.smtp.leftover_secrets#module:unused); what M(mailops.smtp.leftover_secrets)
        would remove is in RV(leftovers). Nothing is removed.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: V(postfix_sasl_map), V(xoauth2_refresher) or V(relay_refresher) (as for M(mailops.smtp.leftover_secrets)).
        type: str
        required: true
        choices: [postfix_sasl_map, xoauth2_refresher, relay_refresher]
      path:
        description: As in M(mailops.smtp.leftover_secrets).
        type: path
      account:
        description: As in M(mailops.smtp.leftover_secrets).
        type: str
      token_file:
        description: As in M(mailops.smtp.leftover_secrets).
        type: path
notes:
  - Without C(dpkg-query) and C(rpm) on the host, every package of O(packages) is reported missing.
seealso:
  - module: mailops.smtp.settings
  - module: mailops.smtp.leftover_secrets
"""

EXAMPLES = r"""
- name: Plan the change of every application of the host, writing nothing
  mailops.smtp.host_settings:
    credential: "{{ smtp_cred.credential }}"
    apps:
      - {name: msmtp, preset: msmtp, smtp: {profile: m365}}
      - {name: app env, format: env, path: /srv/app/.env, keys: {host: SMTP_HOST, password: SMTP_PASSWORD},
         smtp: {profile: m365}}
      - {name: django, preset: django, path: /srv/django/smtp_settings.py, smtp: {profile: m365}}
    packages: [msmtp]
  check_mode: true
  register: plan

- name: Write them, all or nothing
  mailops.smtp.host_settings:
    credential: "{{ smtp_cred.credential }}"
    apps:
      - {name: msmtp, preset: msmtp, smtp: {profile: m365}}
      - {name: app env, format: env, path: /srv/app/.env, keys: {host: SMTP_HOST, password: SMTP_PASSWORD},
         smtp: {profile: m365}}
      - {name: django, preset: django, path: /srv/django/smtp_settings.py, smtp: {profile: m365}}
  when: plan is changed
"""

RETURN = r"""
changed:
  description: Whether any file of any application changed or would change.
  returned: always
  type: bool
  sample: true
apps:
  description:
    - One entry per application, in the order of O(apps), with C(name) and the keys M(mailops.smtp.settings)
      returns (C(changed), C(content_changed), C(secret_changed), C(deployed), C(version), C(files)).
    - With O(observe), C(name) and C(observed) only.
  returned: always
  type: list
  elements: dict
  sample: [{name: msmtp, changed: true, content_changed: true, secret_changed: true, deployed: null,
            version: {credential: secret/smtp/o365-mailer, version: "7"},
            files: [{path: /etc/msmtprc, changed: true, secret_changed: true, created: false}]}]
missing_packages:
  description: The packages of O(packages) that are not installed.
  returned: always
  type: list
  elements: str
  sample: [msmtp]
leftovers:
  description:
    - What M(mailops.smtp.leftover_secrets) would return in check mode for O(unused), C(changed), C(removed),
      C(files) and C(kept), so never a file's content.
  returned: always
  type: dict
  sample: {changed: true, removed: ["/etc/postfix/sasl_passwd.db", "/etc/postfix/sasl_passwd"], files: [], kept: []}
backup_files:
  description: Backups made.
  returned: when an application has backup true and a file was replaced
  type: list
  elements: str
  sample: ["/etc/msmtprc.1234.2026-01-01@10:00:00~"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import _leftovers, _mask
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_batch as batch
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine

PRESETS = ["postfix", "msmtp", "grafana", "gitlab", "spring", "laravel", "django", "nextcloud"]
FORMATS = ["ini", "env", "properties", "json", "yaml"]


def credential_spec():
    return dict(type="dict", options=dict(
        type=dict(type="str", choices=["basic", "oauth2"]),
        username=dict(type="raw"),
        password=dict(type="raw", no_log=True),
        tenant_id=dict(type="raw"),
        client_id=dict(type="raw"),
        client_secret=dict(type="raw", no_log=True),
        access_token=dict(type="raw", no_log=True),
        expires_at=dict(type="raw"),
        vault=dict(type="dict"),
    ))


def argument_spec():
    return dict(
        apps=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            preset=dict(type="str", choices=PRESETS),
            format=dict(type="str", choices=FORMATS),
            path=dict(type="path"),
            keys=dict(type="dict", no_log=False),
            section=dict(type="str"),
            options=dict(type="dict", default={}),
            smtp=dict(type="dict", default={}),
            credential=dict(type="bool", default=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
            follow=dict(type="bool", default=False),
            backup=dict(type="bool", default=False),
            create=dict(type="bool", default=True),
            validate=dict(type="str"),
        ), mutually_exclusive=[("preset", "format")], required_one_of=[("preset", "format")]),
        credential=credential_spec(),
        packages=dict(type="list", elements="str", default=[]),
        observe=dict(type="bool", default=False),
        unused=dict(type="list", elements="dict", default=[], options=dict(
            kind=dict(type="str", required=True, choices=list(_leftovers.KINDS)),
            path=dict(type="path"),
            account=dict(type="str"),
            token_file=dict(type="path", no_log=False),
        )),
    )


class HostSettingsModule(AnsibleModule):
    """Takes the action plugin's private options (engine.PRIVATE_OPTIONS) out of each app and of the
    task before they are validated, so that no argument spec, and so no doc, has them."""

    def _load_params(self):
        super(HostSettingsModule, self)._load_params()
        self.private_params = dict((k, self.params.pop(k)) for k in engine.PRIVATE_OPTIONS if k in self.params)
        self.private_per_app = []
        for app in self.params.get("apps") or []:
            private = {}
            if isinstance(app, dict):
                private = dict((k, app.pop(k)) for k in engine.PRIVATE_OPTIONS if k in app)
            self.private_per_app.append(private)
            self.no_log_values.update(v for k, v in private.items() if k in engine.SECRET_PRIVATE_OPTIONS and v)
        self.no_log_values.update(v for k, v in self.private_params.items()
                                  if k in engine.SECRET_PRIVATE_OPTIONS and v)


def engine_params(module):
    """Each app as the settings engine takes it: its options, its share of the credential, its private options."""
    out = []
    for app, private in zip(module.params["apps"], module.private_per_app):
        params = dict(app, credential=module.params["credential"] if app["credential"] else None)
        params.update(private)
        out.append(params)
    return out


def leftovers_found(module, run):
    """What mailops.smtp.leftover_secrets would remove (and keep, and why) for the unused items."""
    if not module.params["unused"]:
        return {"changed": False, "removed": [], "files": [], "kept": []}
    try:
        found = _leftovers.execute(module.params["unused"], run, check_mode=True)
    except _leftovers.LeftoverError as e:
        module.fail_json(msg=str(e))
    for warning in found.pop("warnings", None) or []:
        module.warn(warning)
    return found


def observed(module):
    """The observe option: what each application's files say now, and nothing else (no write, no plan)."""
    try:
        apps = [{"name": app["name"], "observed": engine.observe(app)} for app in module.params["apps"]]
    except engine.SettingsError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, apps=apps)


def run_module():
    module = HostSettingsModule(argument_spec=argument_spec(), supports_check_mode=True)
    fp_key = module.private_params.get("_fingerprint_key") or _mask.new_key()
    run = engine.module_runner(module)
    if module.params["observe"]:
        observed(module)
    try:
        result = batch.execute(engine_params(module), fp_key, run, check_mode=module.check_mode,
                               want_diff=module._diff)
    except engine.SettingsError as e:
        module.fail_json(msg=str(e))
    result["missing_packages"] = batch.missing_packages(module.params["packages"], run)
    result["leftovers"] = leftovers_found(module, run)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
