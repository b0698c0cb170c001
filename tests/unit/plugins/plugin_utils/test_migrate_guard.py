# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The refusal of a migration whose extra variables (-e) would outrank what the move sets
(plugin_utils/_migrate_guard.py, roles/smtp_migrate/tasks/guard.yml). The last tests run the guard step in a real
ansible-playbook on localhost, so that Ansible's own variable precedence is what they prove (no lab needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.filter.migrate_extra_vars_refusal import migrate_extra_vars_refusal
from ansible_collections.mailops.smtp.plugins.plugin_utils import _migrate_guard as g

REPO = Path(__file__).resolve().parents[4]
GUARD = REPO / "roles" / "smtp_migrate" / "tasks" / "guard.yml"
MOVE = REPO / "roles" / "smtp_migrate" / "tasks" / "move.yml"


def probed(**given) -> dict:
    return dict({n: g.PROBE for n in g.MOVE_SETS}, **given)


def test_nothing_given_above_task_variables_is_no_refusal():
    assert g.overridden(probed()) == []
    assert g.refusal(probed()) == ""


def test_apps_in_extra_vars_are_refused_with_what_to_do():
    why = g.refusal(probed(smtp_configure_apps=[{"preset": "msmtp"}]))
    assert why.startswith("smtp_configure_apps is given as an extra variable (-e)"), why
    assert "each host's planned apps" in why
    assert "Put smtp_configure_apps in the inventory (group_vars or host_vars), not in -e" in why
    assert "Nothing was locked or written." in why
    # Only the name, never the value (a credential's options could be in it).
    assert "msmtp" not in why


def test_every_overridden_name_is_named_in_the_moves_order():
    values = probed(smtp_relay_upstream="basic", smtp_configure_vault={"path": "smtp/app"}, smtp_configure_apps=[])
    assert g.overridden(values) == ["smtp_configure_apps", "smtp_configure_vault", "smtp_relay_upstream"]
    why = g.refusal(values)
    assert why.startswith("smtp_configure_apps and smtp_configure_vault and smtp_relay_upstream are given"), why
    assert "smtp/app" not in why


def test_an_empty_value_is_still_a_value_given():
    # An empty list in -e outranks the plan just the same.
    assert g.overridden(probed(smtp_configure_apps=[])) == ["smtp_configure_apps"]
    assert g.overridden(probed(smtp_relay_upstream="")) == ["smtp_relay_upstream"]


def test_the_guard_and_the_move_agree_on_the_names():
    with pytest.raises(g.GuardError, match="guard.yml probes"):
        g.overridden({"smtp_configure_apps": g.PROBE})
    with pytest.raises(AnsibleFilterError):
        migrate_extra_vars_refusal({"smtp_configure_apps": g.PROBE})
    task = yaml.safe_load(GUARD.read_text())[0]
    assert set(task["vars"]) - {"smtp_migrate__extra_vars_refusal"} == set(g.MOVE_SETS)
    assert all(task["vars"][n] == g.PROBE for n in g.MOVE_SETS)
    # The names the move gives its role includes (the relay's upstream comes in the plan's relay variables).
    move = MOVE.read_text()
    for name in ("smtp_configure_apps", "smtp_configure_vault", "smtp_relay_vault"):
        assert f"        {name}: " in move, name


PLAY = """\
- hosts: guarded
  connection: local
  gather_facts: false
  tasks:
    - name: Set a fact the way an earlier play could
      ansible.builtin.set_fact:
        smtp_configure_apps: []
      when: set_fact_first | default(false) | bool
    - name: The guard
      ansible.builtin.include_role:
        name: mailops.smtp.smtp_migrate
        tasks_from: guard
"""


def run_guard(tmp_path: Path, *extra: str, host_vars: dict | None = None):
    (tmp_path / "play.yml").write_text(PLAY)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"guarded": dict(
        host_vars or {}, ansible_python_interpreter=sys.executable)}}}))
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build" / "collections"))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_COLLECTIONS_PATH=collections)
    p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                        str(tmp_path / "play.yml"), *extra],
                       capture_output=True, text=True, env=env, timeout=120, check=False, cwd=str(tmp_path))
    return p.returncode, p.stdout + p.stderr


def test_apps_and_upstream_in_the_inventory_pass_the_guard(tmp_path):
    rc, out = run_guard(tmp_path, host_vars={"smtp_configure_apps": [{"preset": "msmtp"}],
                                             "smtp_relay_upstream": "basic"})
    assert rc == 0, out
    assert "skipping: [guarded]" in out, out


def test_apps_given_with_extra_vars_are_refused(tmp_path):
    rc, out = run_guard(tmp_path, "-e", json.dumps({"smtp_configure_apps": [{"preset": "msmtp"}]}),
                        host_vars={"smtp_configure_apps": [{"preset": "msmtp"}]})
    assert rc == 2, out
    assert "smtp_configure_apps is given as an extra variable (-e)" in out, out


def test_a_fact_set_earlier_is_refused_too(tmp_path):
    rc, out = run_guard(tmp_path, "-e", "set_fact_first=true")
    assert rc == 2, out
    assert "smtp_configure_apps is given as an extra variable (-e) or set as a fact" in out, out


def test_the_runbook_shows_the_refusal_as_it_is_written():
    doc = (REPO / "docs" / "migrate.md").read_text()
    shown = doc.split("<!-- output: guard -->\n```text\n", 1)[1].split("```", 1)[0]
    assert " ".join(shown.split()) == g.refusal(probed(smtp_configure_apps=[]))
