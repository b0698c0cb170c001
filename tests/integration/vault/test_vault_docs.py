# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every example in docs/vault.md, run against the test OpenBao (the lab's, or a local one).

Each fenced block in the doc carries a marker: `<!-- example: NAME -->` (run here) or
`<!-- command: ... -->` (how to run things, not an example of use). The examples are taken
as written; only the names that must differ per run are substituted: the Vault URL and CA,
the per-run mounts, and the paths.
"""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import fetch_credentials
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "vault.md"
BAO = REPO / ".venv" / "bin" / "bao"
MARKED = re.compile(r"<!-- (example|command): ([^>]+?) -->\n```(\w*)\n(.*?)```", re.S)


def doc_blocks():
    text = DOC.read_text()
    return dict((name.strip(), body) for kind, name, _lang, body in MARKED.findall(text) if kind == "example")


def test_every_block_is_marked():
    text = DOC.read_text()
    fences = re.findall(r"^```", text, re.M)
    assert len(fences) % 2 == 0
    assert len(MARKED.findall(text)) == len(fences) // 2, "a code block in docs/vault.md has no marker"
    assert set(doc_blocks()) == {"fetch-once", "lookup", "wrapped", "credential-object", "secret-layout",
                                 "policy", "approle-setup", "rotation"}


def substitute(text, vault, paths):
    kv2, approle = vault.info["kv2"], vault.info["approle_mount"]
    text = re.sub(r"^(\s*)url: https://vault\.example\.com:8200$",
                  lambda m: "%surl: %s\n%smount: %s" % (m.group(1), vault.addr_https, m.group(1), kv2), text,
                  flags=re.M)
    text = text.replace("url='https://vault.example.com:8200'", "url='%s', mount='%s'" % (vault.addr_https, kv2))
    text = text.replace("/etc/ssl/vault-ca.pem", vault.ca_path)
    text = re.sub(r"^(\s*)method: approle$",
                  lambda m: "%smethod: approle\n%smount: %s" % (m.group(1), m.group(1), approle), text, flags=re.M)
    text = text.replace("'method': 'approle'", "'method': 'approle', 'mount': '%s'" % approle)
    for old, new in paths.items():
        text = text.replace(old, new)
    return text


def play(tasks_text, checks=""):
    indented = "\n".join(("    " + line) if line.strip() else "" for line in tasks_text.splitlines())
    return ("- name: docs/vault.md example\n  hosts: fleet\n  gather_facts: false\n  connection: local\n"
            "  tasks:\n" + indented + "\n" + checks)


def run_example(ansible, name, playbook, extra, hosts=3):
    inventory = ansible.inventory(["doc%02d" % i for i in range(hosts)])
    proc = ansible.run("doc-" + name, playbook, extra, inventory=inventory)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


PATHS = {"smtp/o365-mailer": "smtp/basic", "smtp/o365-app": "smtp/app"}


def test_fetch_once_example(vault, ansible):
    tasks = substitute(doc_blocks()["fetch-once"], vault, PATHS)
    extra = {"vault_role_id": vault.info["role_id"], "vault_secret_id": vault.new_secret_id()}
    offset = vault.audit_offset()
    out = run_example(ansible, "fetch-once", play(tasks), extra)
    user = vault.info["secrets_v2"]["smtp/basic"]["username"]
    assert out.count('"msg": "sending as %s"' % user) == 3
    time.sleep(0.2)
    assert [p for _op, p in vault.audit_requests(offset)] == [
        "auth/%s/login" % vault.info["approle_mount"], "%s/data/smtp/basic" % vault.info["kv2"],
        "auth/token/revoke-self"]


def test_lookup_example(vault, ansible):
    tasks = substitute(doc_blocks()["lookup"], vault, PATHS)
    checks = ("    - name: check\n      ansible.builtin.assert:\n        quiet: true\n        that:\n"
              "          - smtp_creds | length == 2\n          - smtp_creds[0].type == 'basic'\n"
              "          - smtp_creds[1].type == 'oauth2'\n")
    extra = {"vault_role_id": vault.info["role_id"], "vault_secret_id": vault.new_secret_id()}
    offset = vault.audit_offset()
    run_example(ansible, "lookup", play(tasks, checks), extra)
    time.sleep(0.2)
    paths = [p for _op, p in vault.audit_requests(offset)]
    assert paths.count("auth/%s/login" % vault.info["approle_mount"]) == 1 and len(paths) == 4


def test_wrapped_example(vault, ansible):
    tasks = substitute(doc_blocks()["wrapped"], vault, PATHS)
    checks = ("    - name: check\n      ansible.builtin.assert:\n        quiet: true\n        that:\n"
              "          - app_cred.credential.type == 'oauth2'\n")
    run_example(ansible, "wrapped", play(tasks, checks), {
        "vault_role_id": vault.info["role_id"], "vault_wrapped_secret_id": vault.new_secret_id(wrap_ttl="5m")})


def test_rotation_example(vault, ansible, tmp_path):
    path = "smtp/rotate-doc-%s" % secrets.token_hex(2)
    vault.client().secrets.kv.v2.create_or_update_secret(
        path=path, mount_point=vault.info["kv2"], secret={"username": "doc@contoso.test", "password": "Old-PW"})
    token_file = tmp_path / "rotate-token"
    token_file.write_text(vault.info["rotate_token"] + "\n")
    token_file.chmod(0o600)
    tasks = substitute(doc_blocks()["rotation"], vault,
                       {"smtp/o365-mailer": path, "/etc/mailops/vault-rotate-token": str(token_file)})
    new_password = "Doc-Rotated-PW-" + secrets.token_hex(4)
    out = run_example(ansible, "rotation", play(tasks), {"new_password": new_password}, hosts=1)
    assert new_password not in out
    data = vault.client().secrets.kv.v2.read_secret_version(path=path, mount_point=vault.info["kv2"],
                                                            raise_on_deleted_version=False)["data"]
    assert data["data"] == {"username": "doc@contoso.test", "password": new_password}
    assert data["metadata"]["version"] == 2


def test_credential_object_example(vault, token_endpoint):
    shape = YAML(typ="safe").load(doc_blocks()["credential-object"])

    def fetch(path, **kw):
        opts = dict(path=path, url=vault.addr_http, mount=vault.info["kv2"], retries=0,
                    auth={"token_file": vault.info["read_token_file"]}, **kw)
        return fetch_credentials(VaultOptions(opts, ACTION_SPEC, environ={}, warn=[].append))[0]

    basic = fetch("smtp/basic")
    oauth = fetch("smtp/app", fetch_access_token=True, oauth_authority=token_endpoint["authority"],
                  oauth_ca_path=vault.ca_path)
    assert set(shape) == set(basic) | set(oauth)
    assert set(shape["vault"]) == set(basic["vault"]) == set(oauth["vault"])


# ---- the shell and policy examples, with the bao CLI --------------------------------------

def _admin_token(vault, tmp_path):
    """A token for the bao CLI that can do just what the examples do (never the root token)."""
    s, kv2 = vault.suffix, vault.info["kv2"]
    name = "doc_admin_%s" % s
    vault.client().sys.create_or_update_acl_policy(name, "\n".join([
        'path "sys/policies/acl/smtp-read-%s" { capabilities = ["create", "update", "read"] }' % s,
        'path "sys/policy/smtp-read-%s" { capabilities = ["create", "update", "read"] }' % s,
        'path "sys/auth/docrole_%s" { capabilities = ["create", "update", "read", "sudo"] }' % s,
        'path "auth/docrole_%s/*" { capabilities = ["create", "update", "read"] }' % s,
        'path "%s/data/smtp/doc-*" { capabilities = ["create", "update", "read"] }' % kv2,
        'path "%s/config" { capabilities = ["read"] }' % kv2,
        'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }',
    ]) + "\n")
    vault.info["policies"].append(name)
    token = vault.client().auth.token.create(policies=[name], ttl="30m")["auth"]["client_token"]
    vault.info["created_tokens"].append(token)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / ".vault-token").write_text(token)
    (home / ".vault-token").chmod(0o600)
    return home


def run_sh(vault, text, home, cwd, inputs=()):
    """Each command of a shell example (continuations joined); returns their stdouts."""
    env = {"PATH": "%s:/usr/bin:/bin" % BAO.parent, "HOME": str(home), "BAO_ADDR": vault.addr_https,
           "BAO_CACERT": vault.ca_path, "NO_PROXY": "*"}
    commands = [line for line in text.replace("\\\n", " ").splitlines() if line.strip()]
    inputs = list(inputs)
    outs = []
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "bao"
        stdin = inputs.pop(0) if "@/dev/stdin" in command else None
        proc = subprocess.run([str(BAO), *argv[1:]], env=env, cwd=str(cwd), capture_output=True, text=True,
                              input=stdin, timeout=60, check=False)
        assert proc.returncode == 0, "%s: %s" % (command, proc.stderr)
        outs.append(proc.stdout)
    return outs


def _fetch(vault, path, auth, **kw):
    opts = dict(path=path, url=vault.addr_https, ca_path=vault.ca_path, mount=vault.info["kv2"], retries=0,
                auth=auth, **kw)
    return fetch_credentials(VaultOptions(opts, ACTION_SPEC, environ={}, warn=[].append))[0]


def test_policy_and_approle_setup_examples(vault, tmp_path):
    s, kv2 = vault.suffix, vault.info["kv2"]
    home = _admin_token(vault, tmp_path)
    policy = doc_blocks()["policy"].replace('"secret/', '"%s/' % kv2)
    (tmp_path / ("smtp-read-%s.hcl" % s)).write_text(policy)
    setup = doc_blocks()["approle-setup"].replace("smtp-read", "smtp-read-%s" % s)
    setup = setup.replace("bao auth enable approle", "bao auth enable -path=docrole_%s approle" % s)
    setup = setup.replace("auth/approle/", "auth/docrole_%s/" % s)
    vault.info["policies"].append("smtp-read-%s" % s)
    vault.info["auth_mounts"].append("docrole_%s" % s)
    outs = run_sh(vault, setup, home, tmp_path)
    role_id, secret_id, wrapped = outs[3].strip(), outs[4].strip(), outs[5]
    assert role_id and secret_id and "wrapping_token" in wrapped
    auth = {"method": "approle", "mount": "docrole_%s" % s, "role_id": role_id, "secret_id": secret_id}
    assert _fetch(vault, "smtp/basic", auth)["type"] == "basic"
    # The policy reads smtp/* and nothing else.
    auth["secret_id"] = vault.client().auth.approle.generate_secret_id(
        "mailer", mount_point="docrole_%s" % s)["data"]["secret_id"]
    with pytest.raises(VaultCredentialError) as err:
        _fetch(vault, "other/secret", auth)
    assert "permission denied (HTTP 403)" in str(err.value)


def test_secret_layout_example(vault, tmp_path):
    home = _admin_token(vault, tmp_path) if not (tmp_path / "home").exists() else tmp_path / "home"
    layout = doc_blocks()["secret-layout"].replace("-mount=secret", "-mount=%s" % vault.info["kv2"])
    layout = layout.replace("smtp/o365-mailer", "smtp/doc-mailer").replace("smtp/o365-app", "smtp/doc-app")
    password, client_secret = "Doc-PW-" + secrets.token_hex(6), "Doc-CS-" + secrets.token_hex(6)
    run_sh(vault, layout, home, tmp_path, inputs=[password, client_secret])
    token = {"token_file": vault.info["read_token_file"]}
    basic = _fetch(vault, "smtp/doc-mailer", token)
    assert basic["type"] == "basic" and basic["password"] == password
    app = _fetch(vault, "smtp/doc-app", token)
    assert app["type"] == "oauth2" and app["client_secret"] == client_secret
    assert app["tenant_id"] == "11111111-2222-3333-4444-555555555555"
