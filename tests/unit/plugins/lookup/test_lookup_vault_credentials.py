# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lookup: options from kwargs and the environment through ansible's config system; errors.

Each case runs in a fresh interpreter whose collection loader is set up
before anything imports ansible_collections, as in a real ansible run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".build" / "collections"

SCRIPT = r"""
import json, sys
from ansible.errors import AnsibleError
from ansible.plugins.loader import init_plugin_loader, lookup_loader
init_plugin_loader([sys.argv[1]])
plugin = lookup_loader.get("mailops.smtp.vault_credentials")
module = sys.modules[type(plugin).__module__]
calls = []
def fake_fetch(options, paths=None):
    calls.append({"url": options.get("url"), "mount": options.get("mount"), "version": options.get("version"),
                  "namespace": options.get("namespace"), "method": options.auth("method"),
                  "auth_mount": options.auth("mount"), "paths": paths})
    return [{"type": "basic", "vault": {"path": p}} for p in paths]
module.fetch_credentials = fake_fetch
spec = json.loads(sys.stdin.read())
try:
    out = plugin.run(spec["terms"], variables={}, **spec["kwargs"])
    print(json.dumps({"result": out, "calls": calls}))
except AnsibleError as exc:
    print(json.dumps({"error": str(exc), "calls": calls}))
"""

CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("VAULT_", "BAO_", "ANSIBLE_"))}


def run_lookup(terms, env=None, **kwargs):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(COLLECTIONS)],
                          input=json.dumps({"terms": terms, "kwargs": kwargs}),
                          env=dict(CLEAN_ENV, **(env or {})), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_terms_and_kwargs():
    out = run_lookup(["smtp/a", "smtp/b"], url="http://127.0.0.1:8200", mount="kv", version=2,
                     auth={"method": "approle", "role_id": "r", "secret_id": "s"})
    assert [c["vault"]["path"] for c in out["result"]] == ["smtp/a", "smtp/b"]
    call = out["calls"][0]
    assert call["paths"] == ["smtp/a", "smtp/b"]
    assert (call["url"], call["mount"], call["version"]) == ("http://127.0.0.1:8200", "kv", 2)
    assert call["method"] == "approle" and call["auth_mount"] is None


def test_env_sources_vault_wins_over_bao():
    out = run_lookup(["smtp/a"], env={"BAO_ADDR": "http://127.0.0.3:8200", "VAULT_ADDR": "http://127.0.0.2:8200",
                                      "BAO_NAMESPACE": "team-a"})
    assert out["calls"][0]["url"] == "http://127.0.0.2:8200"
    assert out["calls"][0]["namespace"] == "team-a"


def test_option_beats_environment():
    out = run_lookup(["smtp/a"], env={"VAULT_ADDR": "http://127.0.0.2:8200"}, url="http://127.0.0.4:8200")
    assert out["calls"][0]["url"] == "http://127.0.0.4:8200"


@pytest.mark.parametrize("kwargs,words", [
    ({"url": "http://127.0.0.1:1", "auth": {"method": "kerberos"}}, "method"),
    ({}, "VAULT_ADDR"),
    ({"url": "http://127.0.0.1:1", "state": "present"}, "state"),
    ({"url": "http://127.0.0.1:1", "cas": 1}, "cas"),
    ({"url": "http://127.0.0.1:1", "mount_point": "kv"}, "mount_point"),
])
def test_errors_are_ansible_errors(kwargs, words):
    out = run_lookup(["smtp/a"], **kwargs)
    assert "vault_credentials" in out["error"] and words in out["error"]
    assert out["calls"] == []


def test_no_terms():
    assert "at least one secret path" in run_lookup([], url="http://127.0.0.1:1")["error"]
