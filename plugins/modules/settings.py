#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: settings
short_description: Write SMTP settings and credentials into an application's config files
version_added: 0.1.0
description:
  - Merges the SMTP settings an application reads into its existing config file. Only the keys
    the preset or the O(keys) map owns change; in line-based formats every other line stays byte
    for byte, in JSON and YAML every other key stays (YAML comments too).
  - Each value is escaped by the format's own rules. A value the format cannot carry (a line break
    in C(.env), ini, msmtp or Postfix files, trailing spaces in a Postfix map, NUL anywhere) is
    refused and no file is touched. Line breaks include VT, FF, FS, GS, RS, NEL, LS and PS; the
    code formats, JSON, YAML and properties escape them. See docs/security.md.
  - Files are replaced atomically (candidate beside the file with the prefix C(.mailops-smtp-tmp-)
    and the writer's PID, mode 0600 from the first byte, fsync, rename); candidates left by a writer
    that is gone are removed, those of a writer still running are left alone.
  - Concurrent runs on one host are serialised by an advisory C(flock) on the file's directory
    (no lock file is created), held from the read of the old file to the rename of the new one.
    For O(format=yaml), merged on the controller, the module refuses to write when the file
    changed after the controller read it, and says to run again.
  - A destination that is a symbolic link is refused unless O(follow=true); anything else that is
    not a regular file (a FIFO, a directory, a device) is always refused.
  - "Where the secret travels: with pipelining (C(ansible_pipelining) or C(ANSIBLE_PIPELINING),
    on in the lab), the module and its arguments, the secret included, go to the host's Python
    through the SSH session's standard input and no file holds them. Without pipelining Ansible
    copies the module with its arguments (the secret in plain text) as a file into the remote
    user's C(remote_tmp) (C(~/.ansible/tmp) by default) and deletes it after the run; a run killed
    meanwhile leaves that file behind. The action plugin then warns once per run, and refuses the
    task when the variable C(mailops_smtp_require_pipelining) is true."
  - "Diffs show secret lines as C(fingerprint:<hmac>), keyed per task run; so does every other line
    of the file whose name suggests a secret (password, secret, key, token, salt, credential, ...,
    for example C(APP_KEY), C(DB_PASSWORD), C(SECRET_KEY)), any value that is a URL with a password,
    every C(password), C(passwordeval) and foreign C(user) line of an msmtprc, and every entry of a
    Postfix SASL map."
  - "Each file holds a drift marker C(managed by mailops.smtp: credential <mount>/<path> version <N>);
    JSON files get the sidecar C(<file>.mailops-smtp.json)."
  - The action plugin of the same name runs on the controller, validates input, creates the
    per-run fingerprint key and merges YAML with ruamel.yaml; the module does the rest on the host.
  - "Presets: V(postfix) (main.cf and the SASL map; C(mode: connector) in O(options) relays through
    C(<tenant>.mail.protection.outlook.com:25) with no SASL), V(msmtp), V(grafana), V(gitlab)
    (with the Microsoft Graph mailer for XOAUTH2, which needs the Graph C(Mail.Send) application
    permission, not SMTP), V(spring), V(laravel), V(django), V(nextcloud)."
author:
  - mailops.smtp maintainers (@mailops)
requirements:
  - ruamel.yaml (on the controller, for O(format=yaml) only)
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
  path:
    description:
      - The config file; for V(postfix) the config directory (default C(/etc/postfix)).
      - Defaults per preset, where the application has a fixed place.
    type: path
  preset:
    description: The application whose settings are written.
    type: str
    choices: [postfix, msmtp, grafana, gitlab, spring, laravel, django, nextcloud]
  format:
    description: A generic format, with O(keys). Mutually exclusive with O(preset).
    type: str
    choices: [ini, env, properties, json, yaml]
  keys:
    description:
      - For O(format), a map from logical names to the application's keys. Logical names are
        C(host), C(port), C(security), C(starttls), C(implicit_tls), C(mechanism), C(username),
        C(password), C(from_address), C(from_name), C(timeout), C(ca_path), C(tenant_id),
        C(client_id), C(client_secret). JSON and YAML keys are dotted paths.
    type: dict
  section:
    description: The INI section of the keys (O(format=ini)); without it, keys go before the first section.
    type: str
  credential:
    description:
      - A credential object as M(mailops.smtp.vault_credentials) returns it; its C(vault) metadata goes
        into the drift marker. Without C(vault) the marker says C(version none).
    type: dict
    suboptions:
      type:
        description: V(basic) or V(oauth2).
        type: str
        choices: [basic, oauth2]
      username:
        description: The mailbox, a string (any other type is refused, never converted).
        type: raw
      password:
        description: The password (basic), a string (any other type is refused, never converted).
        type: raw
      tenant_id:
        description: The Entra tenant (oauth2), a string.
        type: raw
      client_id:
        description: The app registration (oauth2), a string.
        type: raw
      client_secret:
        description: The client secret (oauth2), a string (any other type is refused, never converted).
        type: raw
      access_token:
        description: Not written anywhere; accepted because vault_credentials may return it.
        type: raw
      expires_at:
        description: Not written anywhere; accepted because vault_credentials may return it.
        type: raw
      vault:
        description: Vault metadata (path, mount, kv_version, version, created_time) for the drift marker.
        type: dict
  smtp:
    description:
      - "C(profile) (see the shared profile table) or C(host) and C(port); C(security) (V(starttls) or V(tls));
        C(mechanism) (V(login) or V(xoauth2)); C(from_address), C(from_name), C(timeout), C(ca_path)."
      - C(ca_path) is extra trust on top of the system store. Where an application takes one CA file, a
        bundle C(<path>.ca-bundle.pem) of the system CAs plus C(ca_path) is written.
    type: dict
    default: {}
  options:
    description:
      - "Preset options. postfix: C(mode) (V(relay) or V(connector)), C(tenant), C(client_cert), C(client_key),
        C(map_type) (default: Postfix's C(default_database_type)), C(rewrite_sender) (default true),
        C(concurrency_limit) (2), C(rate_delay) (V(2s)), C(tls_security_level) (V(secure)).
        msmtp: C(account) (V(mailops)), C(default_account) (false), C(token_file) for XOAUTH2.
        gitlab: C(azure_ad_endpoint), C(graph_endpoint)."
      - "C(mode: via_relay), for every preset and generic format: the application sends through a relay of
        our own (the C(smtp_relay) role) with no login. C(relay_host) (default V(127.0.0.1))
        and C(relay_port) (default V(25)) say where the relay listens; O(smtp) C(host) and C(port), which
        describe Microsoft 365, and O(credential) are not used. On loopback (V(127.0.0.1), V(::1),
        V(localhost)) the settings turn TLS off, so that no mail library tries STARTTLS; a remote relay is
        reached with STARTTLS and its certificate must chain to the system trust store (C(ca_path) only
        where the application takes a CA). The user and password keys of the direct way are deleted, and
        the drift marker says C(credential none). A generic format's C(username), C(password),
        C(tenant_id), C(client_id), C(client_secret) and C(mechanism) keys are deleted; its C(security) is
        V(none) on loopback, V(starttls) otherwise. Postfix cannot relay to itself, so its C(via_relay)
        refuses a loopback relay on port 25. See docs/configure.md."
    type: dict
    default: {}
  observe:
    description:
      - Only read what the application's files say now, writing nothing and needing no O(credential),
        O(smtp) or O(keys) (for a generic O(format), only O(path)). The result is RV(observed).
      - Used by the C(smtp_validate) role to judge readiness from the hosts' files (docs/report.md).
        A file the connection user cannot read (mode C(0600)) is reported as not readable, not as an error;
        run the task with C(become) to read it.
    type: bool
    default: false
  owner:
    description: Owner of the files; an existing file keeps its owner when not given.
    type: str
  group:
    description: Group of the files; an existing file keeps its group when not given.
    type: str
  mode:
    description:
      - Mode of the main file; an existing file keeps its mode. A new file gets C(0600) (it holds the
        secret), C(0644) for Postfix's C(main.cf); give a mode (and O(group)) for an application that
        reads the file as another user.
    type: raw
  follow:
    description:
      - When the destination is a symbolic link, write the file it points to (atomically, in that
        file's directory) and keep the link, as with C(current/.env -> shared/.env) in a Laravel deployment.
      - When false, a symlinked destination is refused, so that the link is never replaced by a file.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of each file that is replaced.
    type: bool
    default: false
  create:
    description: Create the file when it does not exist.
    type: bool
    default: true
  validate:
    description: A command run on the candidate of the main file before it replaces the old one; C(%s) is its path.
    type: str
  reload_command:
    description: Run after the files were written, only when settings or the secret changed (not the marker alone).
    type: str
notes:
  - "Postfix cannot do XOAUTH2 on Debian 12; use C(mode: connector) in O(options) or the msmtp preset."
  - "Grafana, Spring, Laravel, Django and Nextcloud cannot do XOAUTH2 over SMTP; relay their mail instead
    (C(mode: via_relay) in O(options))."
seealso:
  - module: mailops.smtp.vault_credentials
"""

EXAMPLES = r"""
- name: Relay Postfix through Microsoft 365
  mailops.smtp.settings:
    preset: postfix
    credential: "{{ smtp_cred.credential }}"
    smtp: {profile: m365, from_address: alerts@contoso.com}
    reload_command: postfix reload

- name: msmtp with XOAUTH2, as the default account
  mailops.smtp.settings:
    preset: msmtp
    credential: "{{ smtp_cred.credential }}"
    smtp: {profile: m365, mechanism: xoauth2}
    options: {default_account: true}

- name: Grafana through the relay on the same host (no user, no password, no TLS on loopback)
  mailops.smtp.settings:
    preset: grafana
    smtp: {from_address: grafana@contoso.com}
    options: {mode: via_relay}

- name: Django through a designated relay host, with STARTTLS
  mailops.smtp.settings:
    preset: django
    path: /srv/portal/portal/mail_settings.py
    smtp: {from_address: portal@contoso.com}
    options: {mode: via_relay, relay_host: relay1.example.com, relay_port: 25}

- name: A generic .env file
  mailops.smtp.settings:
    format: env
    path: /srv/app/.env
    keys: {host: SMTP_HOST, port: SMTP_PORT, username: SMTP_USER, password: SMTP_PASSWORD}
    credential: "{{ smtp_cred.credential }}"
    smtp: {profile: m365}
"""

RETURN = r"""
changed:
  description: Whether any file (content, marker, owner or mode) changed or would change.
  returned: always
  type: bool
  sample: true
secret_changed:
  description: Whether a line or value that holds a secret changed.
  returned: when O(observe) is false
  type: bool
  sample: false
content_changed:
  description: Whether settings or the secret changed, as opposed to the marker, owner or mode alone.
  returned: when O(observe) is false
  type: bool
  sample: true
deployed:
  description:
    - The credential and version recorded in the file before this run, or null; C(auth), the way the
      file was written for (V(basic), V(xoauth2), V(via_relay), V(via_relay+<upstream>), V(connector),
      V(none)), when its marker records it (an older marker does not).
  returned: when O(observe) is false
  type: dict
  sample: {credential: secret/smtp/o365-mailer, version: "6", auth: basic}
observed:
  description:
    - What the application's files say now, with no value of them; see docs/report.md (C(observed)).
    - C(marker) is the drift marker ({credential, version, auth}) or null; C(settings.method) is the way the
      file's own settings say (V(basic) when a password key holds a value, V(xoauth2), V(via_relay),
      V(connector), V(none) for a file that does not exist, V(unknown)); C(readable) is false when the file
      exists but could not be read (C(error) says why).
  returned: when O(observe) is true
  type: dict
  sample: {path: /etc/msmtprc, exists: true, readable: true, error: null,
           marker: {credential: secret/smtp/o365-mailer, version: "6", auth: basic},
           settings: {method: basic, holds_password: true}}
version:
  description: The credential and version this run writes.
  returned: when O(observe) is false
  type: dict
  sample: {credential: secret/smtp/o365-mailer, version: "7"}
files:
  description: Each file of the change.
  returned: when O(observe) is false
  type: list
  elements: dict
  sample: [{path: /etc/postfix/sasl_passwd, changed: true, secret_changed: true, created: false}]
backup_files:
  description: Backups made.
  returned: when backup is true and a file was replaced
  type: list
  elements: str
  sample: ["/etc/msmtprc.1234.2026-01-01@10:00:00~"]
reload:
  description: The reload command that ran, and its return code.
  returned: when a reload command ran
  type: dict
  sample: {command: postfix reload, rc: 0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import _mask
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine

PRESETS = ["postfix", "msmtp", "grafana", "gitlab", "spring", "laravel", "django", "nextcloud"]


def argument_spec():
    return dict(
        path=dict(type="path"),
        preset=dict(type="str", choices=PRESETS),
        format=dict(type="str", choices=["ini", "env", "properties", "json", "yaml"]),
        keys=dict(type="dict", no_log=False),
        section=dict(type="str"),
        # raw, checked by the engine: a str type would turn a list password into "['a', 'b']".
        credential=dict(type="dict", options=dict(
            type=dict(type="str", choices=["basic", "oauth2"]),
            username=dict(type="raw"),
            password=dict(type="raw", no_log=True),
            tenant_id=dict(type="raw"),
            client_id=dict(type="raw"),
            client_secret=dict(type="raw", no_log=True),
            access_token=dict(type="raw", no_log=True),
            expires_at=dict(type="raw"),
            vault=dict(type="dict"),
        )),
        smtp=dict(type="dict", default={}),
        options=dict(type="dict", default={}),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="raw"),
        follow=dict(type="bool", default=False),
        backup=dict(type="bool", default=False),
        create=dict(type="bool", default=True),
        validate=dict(type="str"),
        reload_command=dict(type="str"),
        observe=dict(type="bool", default=False),
    )


class SettingsModule(AnsibleModule):
    """Takes the action plugin's private options out of the arguments before they are
    validated (engine.PRIVATE_OPTIONS), so that no argument spec, and so no doc, has them."""

    def _load_params(self):
        super(SettingsModule, self)._load_params()
        self.private_params = dict((k, self.params.pop(k)) for k in engine.PRIVATE_OPTIONS if k in self.params)
        self.no_log_values.update(v for k, v in self.private_params.items()
                                  if k in engine.SECRET_PRIVATE_OPTIONS and v)


def run_module():
    module = SettingsModule(argument_spec=argument_spec(), supports_check_mode=True,
                            mutually_exclusive=[("preset", "format")],
                            required_one_of=[("preset", "format")])
    params = dict(module.params, **module.private_params)
    fp_key = params.get("_fingerprint_key") or _mask.new_key()

    run = engine.module_runner(module)
    try:
        if params.get("observe"):
            module.exit_json(changed=False, observed=engine.observe(params))
        if params.get("_read"):
            module.exit_json(changed=False, **engine.read_for_controller(params))
        result = engine.execute(params, fp_key, run, check_mode=module.check_mode, want_diff=module._diff)
    except engine.SettingsError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
