# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A run prints no warning from the collection, on ansible-core 2.21 and 2.19 (issue 17, item 6).

ansible-core 2.21 printed two "[DEPRECATION WARNING]: Instantiating filter/test PluginLoader with
aliases" for `lookup('mailops.smtp.vault_credentials', ..., auth={...})`: the option adapter
deep-copied the lookup's lazy `auth` dict.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lab.core import REPO

VENVS = {"2.21": REPO / ".venv", "2.19": REPO / ".venv-219"}

PLAY = """
- name: Read the credential with a lookup, auth given inline
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Look the credential up
      ansible.builtin.set_fact:
        fetched_user: "{{ lookup('mailops.smtp.vault_credentials', vault.path, url=vault.url, ca_path=vault.ca_path,
                          auth={'method': 'token', 'token_file': vault.auth.token_file}).username }}"
    - name: Say who
      ansible.builtin.debug:
        msg: "user={{ fetched_user }}"
"""


@pytest.mark.parametrize("core", sorted(VENVS))
def test_the_lookup_with_an_auth_dict_prints_no_warning(core, lab, vault_vars, tmp_path):
    venv = VENVS[core]
    if not (venv / "bin" / "ansible-playbook").exists():
        pytest.fail(f"no {venv}: `make setup` builds it")
    (tmp_path / "play.yml").write_text(PLAY)
    vault = json.loads(vault_vars.read_text())["mailops_smtp_vault"]
    (tmp_path / "vars.json").write_text(json.dumps({"vault": vault}))
    env = dict(lab.env, ANSIBLE_DEPRECATION_WARNINGS="true")
    proc = subprocess.run([str(venv / "bin" / "ansible-playbook"), "-i", "localhost,", "-e", f"@{tmp_path / 'vars.json'}",
                           str(tmp_path / "play.yml")], capture_output=True, text=True, env=env, cwd=str(REPO),
                          timeout=180, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "user=svc-mailer@contoso.com" in out, out
    assert "WARNING" not in out, out
