# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load on Vault from a real fleet: the fetch-once pattern over 1 and 10 lab hosts.

Lab only (`.lab/ctl-exec`). The play fetches the lab mailbox's credential once (the action with
run_once), every host uses it, and the first two log in with it on the SMTP stand-in through
the probe module over SSH. OpenBao's audit log must then show, whatever the number of hosts:
AppRole - one login, one read, one revoke-self; a supplied token - the read alone.
"""

from __future__ import annotations

import json
import re

import pytest

FETCH_ONCE = """
- name: Fetch once, use everywhere
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Fetch the mailer credential once for the whole play
      mailops.smtp.vault_credentials:
        path: smtp/lab-mailer
        mount: "{{ kv2 }}"
        url: "{{ vault_url }}"
        ca_path: "{{ vault_ca }}"
        auth: "{{ vault_auth }}"
      run_once: true
      register: smtp_cred

    - name: Every host has the credential
      ansible.builtin.debug:
        msg: "user={{ smtp_cred.credential.username }}"

    - name: Log in with it from the first two hosts
      mailops.smtp.probe:
        ports: [587]
        ca_path: "{{ vault_ca }}"
        auth:
          username: "{{ smtp_cred.credential.username }}"
          password: "{{ smtp_cred.credential.password }}"
      when: inventory_hostname in ansible_play_hosts_all[:2]
      register: probe

    - name: The login worked
      ansible.builtin.assert:
        quiet: true
        that:
          - probe.ok
          - probe.ports['587'].auth.ok
      when: inventory_hostname in ansible_play_hosts_all[:2]
"""


@pytest.fixture
def fleet(vault, request, tmp_path):
    if not vault.lab:
        pytest.skip("needs the lab's hosts: run under .lab/ctl-exec")
    lab = request.getfixturevalue("lab")
    playbook = tmp_path / "fetch-once.yml"
    playbook.write_text(FETCH_ONCE)

    def run(hosts, auth):
        names = [h["name"] for h in lab.hosts[:hosts]]
        assert len(names) == hosts, "the lab has only %d hosts" % len(lab.hosts)
        # Secrets go in a vars file, never on the command line.
        extra = tmp_path / ("vars-%d.json" % hosts)
        extra.write_text(json.dumps({"kv2": vault.info["kv2"], "vault_url": vault.addr_https,
                                     "vault_ca": vault.ca_path, "vault_auth": auth}))
        extra.chmod(0o600)
        offset = vault.audit_offset()
        proc = lab.ansible(["--limit", ",".join(names), "-e", "@%s" % extra, str(playbook)], timeout=600)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        return names, out, vault.wait_audit(offset, 1, timeout=5)

    return run


def _auth(vault, method):
    if method == "approle":
        return {"method": "approle", "mount": vault.info["approle_mount"], "role_id": vault.info["role_id"],
                "secret_id": vault.new_secret_id()}
    return {"method": "token", "token_file": vault.info["read_token_file"]}


@pytest.mark.parametrize("hosts", [1, 10])
@pytest.mark.parametrize("method", ["approle", "token"])
def test_fetch_once_over_lab_hosts(vault, fleet, hosts, method):
    names, out, seen = fleet(hosts, _auth(vault, method))
    recap = dict(re.findall(r"^(host\d+)\s+: (ok=.*)$", out, re.M))
    assert sorted(recap) == sorted(names)
    assert all("failed=0" in line and "unreachable=0" in line for line in recap.values())
    # The credential reached every host from the one fetch.
    users = re.findall(r'"msg": "user=([^"]+)"', out)
    assert users == [vault.info["lab_secrets"]["smtp/lab-mailer"]["username"]] * hosts
    # And it is a working one: the probes logged in (the assert task checks auth.ok).
    assert len(re.findall(r"^ok: \[host\d+\]", out, re.M)) >= hosts + min(hosts, 2)
    assert vault.info["lab_secrets"]["smtp/lab-mailer"]["password"] not in out
    read = "%s/data/smtp/lab-mailer" % vault.info["kv2"]
    paths = [path for _op, path in seen]
    if method == "approle":
        assert paths == ["auth/%s/login" % vault.info["approle_mount"], read, "auth/token/revoke-self"]
    else:
        assert paths == [read]
