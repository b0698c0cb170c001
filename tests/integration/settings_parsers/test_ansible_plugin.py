# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real plugin path: ansible-playbook -> action -> module, with check mode, diff masking, idempotence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

PASSWORD = "p'a\"s\\s $x #y;z {{ lookup('pipe','id') }} é "
PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    cred: {type: basic, username: svc@contoso.com, password: !unsafe "%(pw)s",
           vault: {path: smtp/o365, mount: secret, version: 7}}
    cred8: {type: basic, username: svc@contoso.com, password: !unsafe "%(pw)s",
            vault: {path: smtp/o365, mount: secret, version: 8}}
  tasks:
    - name: check mode first
      mailops.smtp.settings: &m {preset: msmtp, path: "%(d)s/msmtprc", credential: "{{ cred }}", smtp: {profile: m365}}
      register: r0
      check_mode: true
    - name: write
      mailops.smtp.settings: *m
      register: r1
    - name: again
      mailops.smtp.settings: *m
      register: r2
    - name: newer vault version, check mode
      mailops.smtp.settings: &m8 {preset: msmtp, path: "%(d)s/msmtprc", credential: "{{ cred8 }}", smtp: {profile: m365}}
      register: r3
      check_mode: true
    - name: yaml
      mailops.smtp.settings: &y {format: yaml, path: "%(d)s/app.yml", credential: "{{ cred }}", smtp: {profile: m365},
                                 keys: {password: mail.smtp.password, host: mail.smtp.host}}
      register: r4
    - name: yaml again
      mailops.smtp.settings: *y
      register: r5
    - name: a refused value
      mailops.smtp.settings: {format: env, path: "%(d)s/.env", credential: {username: u, password: "a${B}"}, keys: {password: P}}
      register: r6
      ignore_errors: true
    - name: keep the results for the test
      ansible.builtin.copy:
        content: "{{ [r0, r1, r2, r3, r4, r5, r6] | to_json }}"
        dest: "%(d)s/results.json"
        mode: "0600"
"""


def test_playbook(tmp_path):
    (tmp_path / "app.yml").write_text("# keep me\nmail:\n  other: 1  # and me\n")
    (tmp_path / ".env").write_text("KEEP=1\n")
    esc = PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
    (tmp_path / "play.yml").write_text(PLAY % {"pw": esc, "d": tmp_path})
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--diff", "-vvv",
                        str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, timeout=180,
                       check=False)
    assert PASSWORD.strip() not in p.stdout + p.stderr
    assert p.returncode == 0, p.stdout[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())
    check, write, again, newer, yml, yml_again, refused = res
    assert check["changed"] and check["secret_changed"]
    assert write["changed"] and write["version"] == {"credential": "secret/smtp/o365", "version": "7"}
    after = write["diff"][0]["after"]
    assert 'password "fingerprint:' in after and "host \"smtp.office365.com\"" in after
    assert not again["changed"]
    assert again["deployed"] == {"credential": "secret/smtp/o365", "version": "7", "auth": "basic"}
    assert newer["changed"] and not newer["secret_changed"] and not newer["content_changed"]
    assert newer["deployed"]["version"] == "7" and newer["version"]["version"] == "8"
    assert "version 7" in (tmp_path / "msmtprc").read_text()
    rc = (tmp_path / "msmtprc").read_text(encoding="utf-8")
    assert 'password "%s"' % PASSWORD in rc
    assert yml["changed"] and yml["secret_changed"] and not yml_again["changed"]
    y = (tmp_path / "app.yml").read_text(encoding="utf-8")
    assert "# keep me" in y and "# and me" in y and "version 7" in y
    assert "fingerprint:" in yml["diff"][0]["after"]
    assert refused["failed"] and "${" in refused["msg"]
    assert (tmp_path / ".env").read_text() == "KEEP=1\n"
    assert not list(tmp_path.glob(".mailops-smtp-tmp-*"))


LINE_BREAK_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: django, twice
      mailops.smtp.settings: {preset: django, path: "%(d)s/mail_settings.py", smtp: {host: h.example, port: 587},
                              credential: {username: u@contoso.com, password: !unsafe "%(django)s"}}
      loop: [1, 2]
      register: dj
    - name: yaml, twice
      mailops.smtp.settings: {format: yaml, path: "%(d)s/app.yml", smtp: {profile: m365},
                              credential: {username: u@contoso.com, password: !unsafe "%(yaml)s"},
                              keys: {password: mail.password}}
      loop: [1, 2]
      register: ym
    - name: keep the results for the test
      ansible.builtin.copy:
        content: "{{ [dj.results | map(attribute='changed'), ym.results | map(attribute='changed')] | to_json }}"
        dest: "%(d)s/results.json"
        mode: "0600"
"""


def test_line_breaks_in_values_through_the_playbook(tmp_path):
    """Issue 15: the reproduction of item 1 (a VT in a Django password became a line of code on
    the second run) and item 6 (NEL in YAML read back as a space), through ansible-playbook."""
    import runpy

    import yaml
    from ruamel.yaml import YAML

    pwned = tmp_path / "PWNED"
    django_pw = 'x\vopen("%s","w") #' % pwned
    yaml_pw = "nel\x85ls\u2028end"
    # YAML double-quoted escapes, so the playbook itself carries the characters.
    esc = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\v", "\\v").replace("\x85", "\\N")
           .replace("\u2028", "\\L") for k, v in (("django", django_pw), ("yaml", yaml_pw))}
    (tmp_path / "app.yml").write_text("# keep me\nmail:\n  other: 1\n")
    (tmp_path / "play.yml").write_text(LINE_BREAK_PLAY % dict(esc, d=tmp_path))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(tmp_path / "play.yml")],
                       env=env, capture_output=True, text=True, timeout=180, check=False)
    assert p.returncode == 0, p.stdout[-2000:]
    dj, ym = json.loads((tmp_path / "results.json").read_text())
    assert dj == [True, False] and ym == [True, False]
    ns = runpy.run_path(str(tmp_path / "mail_settings.py"))
    assert ns["EMAIL_HOST_PASSWORD"] == django_pw and not pwned.exists()
    text = (tmp_path / "app.yml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["mail"]["password"] == yaml_pw
    assert YAML(typ="rt").load(text)["mail"]["password"] == yaml_pw
