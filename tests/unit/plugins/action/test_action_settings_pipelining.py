# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15 item 3: a secret-bearing task without pipelining warns, or refuses when required."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.mailops.smtp.plugins.action import probe as probe_action
from ansible_collections.mailops.smtp.plugins.action import settings as settings_action
from ansible_collections.mailops.smtp.plugins.plugin_utils import _pipelining

SECRET = "PW-never-shown-0815"


def make(module, args, pipelining):
    task = MagicMock()
    task.args = args
    task.check_mode = False
    task.async_val = 0
    task.diff = False
    connection = MagicMock()
    connection._shell.tmpdir = None
    connection.is_pipelining_enabled.return_value = pipelining
    action = module.ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    action._execute_module = MagicMock(return_value={"changed": False})
    return action


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(_pipelining.Display, "warning", lambda self, msg, *a, **kw: seen.append(msg))
    return seen


SETTINGS_ARGS = {"preset": "msmtp", "credential": {"username": "u@contoso.com", "password": SECRET},
                 "smtp": {"profile": "m365"}}
PROBE_ARGS = {"profile": "m365", "auth": {"username": "u@contoso.com", "password": SECRET}}


@pytest.mark.parametrize("module,args", [(settings_action, SETTINGS_ARGS), (probe_action, PROBE_ARGS)])
def test_without_pipelining_one_warning_text_for_every_host(module, args, warnings):
    make(module, dict(args), pipelining=False).run(task_vars={})
    make(module, dict(args), pipelining=False).run(task_vars={"inventory_hostname": "other"})
    # One text for every host and task: Ansible's display shows a repeated warning once per run.
    assert len(warnings) == 2 and len(set(warnings)) == 1
    w = warnings[0]
    assert "remote_tmp" in w and "ANSIBLE_PIPELINING=true" in w and "mailops_smtp_require_pipelining" in w
    assert SECRET not in w


@pytest.mark.parametrize("module,args", [(settings_action, SETTINGS_ARGS), (probe_action, PROBE_ARGS)])
def test_required_pipelining_refuses_before_the_module_runs(module, args, warnings):
    action = make(module, dict(args), pipelining=False)
    with pytest.raises(AnsibleActionFail, match="pipelining is off") as e:
        action.run(task_vars={"mailops_smtp_require_pipelining": True})
    assert SECRET not in str(e.value)
    action._execute_module.assert_not_called()
    assert warnings == []


def test_with_pipelining_or_without_secret_nothing_is_said(warnings):
    make(settings_action, dict(SETTINGS_ARGS), pipelining=True).run(
        task_vars={"mailops_smtp_require_pipelining": True})
    connector = {"preset": "postfix", "options": {"mode": "connector", "tenant": "contoso.com"}}
    make(settings_action, connector, pipelining=False).run(task_vars={"mailops_smtp_require_pipelining": True})
    assert warnings == []


def test_via_relay_sends_no_credential_to_the_host(warnings):
    # A relay logs in for the application: the secret stays on the controller, so pipelining does not matter.
    args = dict(SETTINGS_ARGS, options={"mode": "via_relay"}, smtp={"from_address": "a@contoso.com"})
    action = make(settings_action, args, pipelining=False)
    action.run(task_vars={"mailops_smtp_require_pipelining": True})
    sent = action._execute_module.call_args.kwargs["module_args"]
    assert sent["credential"] is None and SECRET not in repr(sent)
    assert warnings == []


def test_require_variable_must_be_a_boolean(warnings):
    with pytest.raises(AnsibleActionFail, match="true or false"):
        make(settings_action, dict(SETTINGS_ARGS), pipelining=False).run(
            task_vars={"mailops_smtp_require_pipelining": "maybe"})


def test_action_refuses_wrong_types_before_reaching_a_host(warnings):
    args = dict(SETTINGS_ARGS, credential={"username": {"a": 1}, "password": SECRET})
    action = make(settings_action, args, pipelining=True)
    with pytest.raises(AnsibleActionFail, match="credential.username must be a string, not a dict"):
        action.run(task_vars={})
    action._execute_module.assert_not_called()
