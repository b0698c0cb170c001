# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lookup and the action through real ansible-playbook runs on localhost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

PLAY_HEAD = """
- name: vault_credentials
  hosts: {hosts}
  gather_facts: false
  connection: local
  tasks:
"""

ACTION_AND_LOOKUP = PLAY_HEAD.format(hosts="all") + """
    - name: Fetch with the action
      mailops.smtp.vault_credentials:
        path: smtp/basic
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        ca_path: "{{ vault_ca }}"
        retries: 0
        auth:
          token_file: "{{ token_file }}"
      register: smtp_cred

    - name: Fetch with the lookup
      ansible.builtin.set_fact:
        looked_up: "{{ lookup('mailops.smtp.vault_credentials', 'smtp/basic', 'smtp/jinja', mount=kv2,
                       url=vault_url, ca_path=vault_ca, retries=0,
                       auth={'token_file': token_file}) }}"
      no_log: true

    - name: The registered variable keeps the credential
      ansible.builtin.assert:
        quiet: true
        that:
          - smtp_cred.credential.type == 'basic'
          - smtp_cred.credential.username == expect_user
          - smtp_cred.credential.password | length == expect_pw_len | int
          - smtp_cred.credential.vault.version == 1
          - looked_up | length == 2
          - looked_up[0].username == expect_user
          - looked_up[0].password == smtp_cred.credential.password

    - name: Fetch the Jinja-looking password with the action
      mailops.smtp.vault_credentials:
        path: smtp/jinja
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        ca_path: "{{ vault_ca }}"
        auth:
          token_file: "{{ token_file }}"
      register: jinja_cred

    - name: Write both literal values where the test can read them
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ item.name }}"
        content: "{{ item.value }}"
        mode: "0600"
      loop:
        - {name: action.txt, value: "{{ jinja_cred.credential.password }}"}
        - {name: lookup.txt, value: "{{ looked_up[1].password }}"}
      loop_control:
        label: "{{ item.name }}"
      no_log: true

    - name: A refused read fails the task without showing anything secret
      mailops.smtp.vault_credentials:
        path: other/secret
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        ca_path: "{{ vault_ca }}"
        auth:
          token_file: "{{ token_file }}"
      register: refused
      ignore_errors: true

    - name: The refusal is a failure with a message
      ansible.builtin.assert:
        quiet: true
        that:
          - refused is failed
          - "'permission denied' in refused.msg"
"""


def _base_vars(vault, tmp_path, https=False):
    basic = vault.info["secrets_v2"]["smtp/basic"]
    out = {
        "kv2": vault.info["kv2"],
        "vault_url": vault.addr_https if https else vault.addr_http,
        "token_file": vault.info["read_token_file"],
        "expect_user": basic["username"],
        "expect_pw_len": len(basic["password"]),
        "out_dir": str(tmp_path),
        # Unused over http; given anyway since a lookup argument cannot be omitted.
        "vault_ca": vault.ca_path,
    }
    return out


def _secret_values(vault):
    values = [vault.info["userpass_password"], vault.info["rotate_token"], vault.root_token,
              open(vault.info["read_token_file"]).read().strip()]
    for data in list(vault.info["secrets_v2"].values()) + list(vault.info["secrets_v1"].values()):
        for key in ("password", "client_secret", "app_password"):
            if data.get(key) and "{{" not in data[key]:
                values.append(data[key])
    return values


def test_action_and_lookup_verbose_output_has_no_secrets(vault, ansible, tmp_path):
    proc = ansible.run("verbose", ACTION_AND_LOOKUP, _base_vars(vault, tmp_path, https=True), verbosity=4)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "ok=" in output and "failed=0" in output
    # Errors stay readable: they never hold a secret.
    assert "permission denied (HTTP 403)" in output
    hits = [v for v in _secret_values(vault) if v in output]
    assert hits == [], "secret values found in -vvvv output"
    # The values that look like Jinja come out literally, not evaluated.
    literal = "{{ lookup('pipe','id') }}"
    assert (tmp_path / "action.txt").read_text() == literal
    assert (tmp_path / "lookup.txt").read_text() == literal


def test_action_check_mode_still_reads(vault, ansible, tmp_path):
    proc = ansible.run("check", ACTION_AND_LOOKUP, _base_vars(vault, tmp_path), check=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


FETCH_ONCE = PLAY_HEAD.format(hosts="fleet") + """
    - name: Fetch once for every host
      mailops.smtp.vault_credentials:
        path: smtp/basic
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        retries: 0
        auth: "{{ vault_auth }}"
      run_once: true
      register: smtp_cred

    - name: Every host sees the credential
      ansible.builtin.assert:
        quiet: true
        that:
          - smtp_cred.credential.username == expect_user
"""


@pytest.mark.parametrize("hosts,method", [(1, "approle"), (10, "approle"), (10, "token")])
def test_fetch_once_audit_log(vault, ansible, tmp_path, hosts, method):
    inventory = ansible.inventory(["mail%02d" % i for i in range(hosts)])
    if method == "approle":
        auth = {"method": "approle", "mount": vault.info["approle_mount"], "role_id": vault.info["role_id"],
                "secret_id": vault.new_secret_id()}
    else:
        auth = {"token_file": vault.info["read_token_file"]}
    extra = dict(_base_vars(vault, tmp_path), vault_auth=auth)
    offset = vault.audit_offset()
    proc = ansible.run("fetch-once-%s-%d" % (method, hosts), FETCH_ONCE, extra, inventory=inventory)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    recap = [line for line in out.splitlines() if line.startswith("mail") and " : ok=" in line]
    assert len(recap) == hosts and all("failed=0" in line for line in recap)
    # The assert task ran (and passed) on every host, from the one fetch.
    assert sum(1 for line in out.splitlines() if line.startswith("ok: [mail")) == hosts + 1
    time.sleep(0.3)
    seen = [path for _op, path in vault.audit_requests(offset)]
    read = "%s/data/smtp/basic" % vault.info["kv2"]
    if method == "approle":
        assert seen == ["auth/%s/login" % vault.info["approle_mount"], read, "auth/token/revoke-self"]
    else:
        assert seen == [read]


WRAPPED = PLAY_HEAD.format(hosts="fleet") + """
    - name: Fetch once with a wrapped secret_id
      mailops.smtp.vault_credentials:
        path: smtp/app
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        auth:
          method: approle
          mount: "{{ approle_mount }}"
          role_id: "{{ role_id }}"
          secret_id: "{{ wrapped }}"
          secret_id_wrapped: true
      run_once: true
      register: app_cred

    - name: The oauth2 credential reached every host
      ansible.builtin.assert:
        quiet: true
        that:
          - app_cred.credential.type == 'oauth2'
          - app_cred.credential.client_id | length > 0
"""


def test_wrapped_secret_id_with_run_once(vault, ansible, tmp_path):
    inventory = ansible.inventory(["mail%02d" % i for i in range(3)])
    extra = dict(_base_vars(vault, tmp_path), approle_mount=vault.info["approle_mount"],
                 role_id=vault.info["role_id"], wrapped=vault.new_secret_id(wrap_ttl="5m"))
    proc = ansible.run("wrapped", WRAPPED, extra, inventory=inventory)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert sum(1 for line in out.splitlines() if line.startswith("ok: [mail")) == 3 + 1
    assert vault.info["secrets_v2"]["smtp/app"]["client_secret"] not in out


ROTATE = PLAY_HEAD.format(hosts="localhost") + """
    - name: Store a new password
      mailops.smtp.vault_credentials:
        path: smtp/rotate-play
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        state: present
        data:
          username: rotate@contoso.test
          password: "{{ new_password }}"
        cas: "{{ cas_value | int }}"
        auth:
          token: "{{ rotate_token }}"
      register: stored

    - name: Report the outcome
      ansible.builtin.copy:
        dest: "{{ out_dir }}/rotate-{{ ansible_check_mode | ternary('check', 'run') }}.txt"
        content: "{{ stored.changed }} {{ stored.vault.version | default('none', true) }}"
        mode: "0600"
      check_mode: false
"""


def test_rotation_check_mode_and_idempotence(vault, ansible, tmp_path):
    extra = dict(_base_vars(vault, tmp_path), rotate_token=vault.info["rotate_token"],
                 new_password="Play-Rotate-PW-1", cas_value=0)
    proc = ansible.run("rotate-check", ROTATE, extra, check=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (tmp_path / "rotate-check.txt").read_text() == "True none"
    proc = ansible.run("rotate", ROTATE, extra)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (tmp_path / "rotate-run.txt").read_text() == "True 1"
    proc = ansible.run("rotate-again", ROTATE, dict(extra, cas_value=1))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (tmp_path / "rotate-run.txt").read_text() == "False 1"
    assert "Play-Rotate-PW-1" not in proc.stdout + proc.stderr
    assert Path(tmp_path / "rotate-run.txt").exists()
