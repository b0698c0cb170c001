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


# The probe value, as guard.yml writes it (its one place).
PROBE = yaml.safe_load(GUARD.read_text())[0]["vars"]["smtp_migrate__probe"]


def probed(**given) -> dict:
    return dict({n: PROBE for n in g.MOVE_SETS}, **given)


def test_nothing_given_above_task_variables_is_no_refusal():
    assert g.overridden(probed(), PROBE) == []
    assert g.refusal(probed(), PROBE) == ""


def test_apps_in_extra_vars_are_refused_with_what_to_do():
    why = g.refusal(probed(smtp_configure_apps=[{"preset": "msmtp"}]), PROBE)
    assert why.startswith("smtp_configure_apps is given as an extra variable (-e)"), why
    assert "each host's planned apps" in why
    assert "Put smtp_configure_apps in the inventory (group_vars or host_vars), not in -e" in why
    assert "Nothing was locked or written." in why
    # Only the name, never the value (a credential's options could be in it).
    assert "msmtp" not in why


def test_every_overridden_name_is_named_in_the_moves_order():
    values = probed(smtp_relay_upstream="basic", smtp_configure_vault={"path": "smtp/app"}, smtp_configure_apps=[])
    assert g.overridden(values, PROBE) == ["smtp_configure_apps", "smtp_configure_vault", "smtp_relay_upstream"]
    why = g.refusal(values, PROBE)
    assert why.startswith("smtp_configure_apps and smtp_configure_vault and smtp_relay_upstream are given"), why
    assert "smtp/app" not in why


def test_an_empty_value_is_still_a_value_given():
    # An empty list in -e outranks the plan just the same.
    assert g.overridden(probed(smtp_configure_apps=[]), PROBE) == ["smtp_configure_apps"]
    assert g.overridden(probed(smtp_relay_upstream=""), PROBE) == ["smtp_relay_upstream"]


def test_the_guard_and_the_move_agree_on_the_names():
    with pytest.raises(g.GuardError, match="guard.yml probes"):
        g.overridden({"smtp_configure_apps": PROBE}, PROBE)
    with pytest.raises(AnsibleFilterError):
        migrate_extra_vars_refusal({"smtp_configure_apps": PROBE}, PROBE)
    task = yaml.safe_load(GUARD.read_text())[0]
    assert set(task["vars"]) - {"smtp_migrate__extra_vars_refusal", "smtp_migrate__probe"} == set(g.MOVE_SETS)
    assert all(task["vars"][n] == PROBE for n in g.MOVE_SETS)
    # The filter is given the probe from guard.yml; no second copy of its value in the collection's code.
    assert "migrate_extra_vars_refusal(smtp_migrate__probe)" in GUARD.read_text()
    assert not hasattr(g, "PROBE")
    for code in (REPO / "plugins").rglob("*.py"):
        assert PROBE not in code.read_text(), code
    # The names the move gives its role includes (the relay's upstream comes in the plan's relay variables).
    move = MOVE.read_text()
    for name in ("smtp_configure_apps", "smtp_configure_vault", "smtp_relay_vault",
                 "smtp_configure_credential_proven", "smtp_configure_lock_run_id"):
        assert f"        {name}: " in move, name
    assert set(g.MOVE_ONLY) <= set(g.MOVE_SETS)


def test_the_proof_and_the_lock_id_are_refused_with_leave_them_out():
    for name, value in (("smtp_configure_credential_proven", False), ("smtp_configure_credential_proven", "true"),
                        ("smtp_configure_lock_run_id", "x")):
        assert g.overridden(probed(**{name: value}), PROBE) == [name]
        why = g.refusal(probed(**{name: value}), PROBE)
        assert why.startswith(f"{name} is given as an extra variable (-e) or set as a fact"), why
        assert f"Leave {name} out of -e (and out of set_fact): the move sets it itself." in why, why
        assert "inventory" not in why and why.endswith(" Nothing was locked or written."), why
    both = g.refusal(probed(smtp_configure_lock_run_id="x", smtp_configure_credential_proven=False), PROBE)
    assert "every host would prove the credential again" in both and "refuse it" in both, both
    assert "Leave smtp_configure_credential_proven and smtp_configure_lock_run_id out of -e" in both, both
    # With apps too: the apps' advice first (unchanged), then the move's own, one "Nothing was ..." at the end.
    mixed = g.refusal(probed(smtp_configure_apps=[], smtp_configure_lock_run_id="x"), PROBE)
    apps_only = g.refusal(probed(smtp_configure_apps=[]), PROBE).removesuffix(" Nothing was locked or written.")
    assert mixed.startswith(apps_only + " smtp_configure_lock_run_id is given"), mixed
    assert mixed.count("Nothing was locked or written.") == 1, mixed


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


def test_the_lock_id_and_the_proof_given_with_extra_vars_are_refused(tmp_path):
    rc, out = run_guard(tmp_path, "-e", "smtp_configure_lock_run_id=x smtp_configure_credential_proven=false")
    assert rc == 2, out
    assert ("smtp_configure_credential_proven and smtp_configure_lock_run_id are given as an extra variable (-e)"
            in " ".join(out.split())), out


def test_a_fact_set_earlier_is_refused_too(tmp_path):
    rc, out = run_guard(tmp_path, "-e", "set_fact_first=true")
    assert rc == 2, out
    assert "smtp_configure_apps is given as an extra variable (-e) or set as a fact" in out, out


def test_the_runbook_shows_the_refusal_as_it_is_written():
    doc = (REPO / "docs" / "migrate.md").read_text()
    shown = doc.split("<!-- output: guard -->\n```text\n", 1)[1].split("```", 1)[0]
    assert " ".join(shown.split()) == g.refusal(probed(smtp_configure_apps=[]), PROBE)
