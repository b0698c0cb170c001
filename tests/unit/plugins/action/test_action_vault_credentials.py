# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action: no_log on success, readable failures, state=present with check mode."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from ansible_collections.mailops.smtp.plugins.action import vault_credentials as action_mod
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError


def make_action(args, check_mode=False):
    task = MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.async_val = 0
    task.diff = False
    connection = MagicMock()
    connection._shell.tmpdir = None
    return action_mod.ActionModule(task, connection, MagicMock(), loader=None, templar=None,
                                   shared_loader_obj=None)


@pytest.fixture
def no_env(monkeypatch):
    for name in ("VAULT_ADDR", "BAO_ADDR", "VAULT_SKIP_VERIFY"):
        monkeypatch.delenv(name, raising=False)


ARGS = {"path": "smtp/x", "url": "http://127.0.0.1:1", "auth": {"token": "hvs.TOPSECRET"}}


def test_success_is_no_log_and_keeps_credential(monkeypatch, no_env):
    cred = {"type": "basic", "username": "u", "password": "PW-TOPSECRET", "vault": {"path": "smtp/x"}}
    seen = []
    monkeypatch.setattr(action_mod, "fetch_credentials", lambda options: seen.append(options) or [cred])
    result = make_action(dict(ARGS)).run(task_vars={})
    assert result["_ansible_no_log"] is True
    assert result["credential"] == cred and result["changed"] is False
    assert "failed" not in result
    assert seen[0].auth("token") == "hvs.TOPSECRET"


def test_failure_is_visible_and_secret_free(monkeypatch, no_env):
    def boom(options):
        raise VaultCredentialError("Vault refused to read secret/smtp/x: permission denied (HTTP 403)")

    monkeypatch.setattr(action_mod, "fetch_credentials", boom)
    result = make_action(dict(ARGS)).run(task_vars={})
    assert result["failed"] is True and result["_ansible_no_log"] is False
    assert "permission denied" in result["msg"] and "TOPSECRET" not in result["msg"]
    assert "credential" not in result


def test_unexpected_error_shows_type_only(monkeypatch, no_env):
    def boom(options):
        raise KeyError("PW-TOPSECRET")

    monkeypatch.setattr(action_mod, "fetch_credentials", boom)
    result = make_action(dict(ARGS)).run(task_vars={})
    assert result["failed"] is True and "KeyError" in result["msg"] and "TOPSECRET" not in result["msg"]


def test_invalid_args_fail(no_env):
    result = make_action({"path": "smtp/x", "url": "http://127.0.0.1:1", "kv_version": 5}).run(task_vars={})
    assert result["failed"] is True and "kv_version" in result["msg"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_state_present_passes_check_mode(monkeypatch, no_env, check_mode):
    calls = []

    def store(options, check_mode=False):
        calls.append((options.get("data"), options.get("cas"), check_mode))
        return {"changed": True, "vault": {"version": None if check_mode else 7}}

    monkeypatch.setattr(action_mod, "store_credential", store)
    args = dict(ARGS, state="present", data={"username": "u", "password": "PW-TOPSECRET"}, cas=6)
    result = make_action(args, check_mode=check_mode).run(task_vars={})
    assert calls == [({"username": "u", "password": "PW-TOPSECRET"}, 6, check_mode)]
    assert result["changed"] is True and result["_ansible_no_log"] is True
    assert "credential" not in result


def test_state_present_needs_data(no_env):
    result = make_action(dict(ARGS, state="present")).run(task_vars={})
    assert result["failed"] is True and "data" in result["msg"]
