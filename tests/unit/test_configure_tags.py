# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp_configure role's phases carry the tags docs/configure.md gives them (issue 18)."""

from __future__ import annotations

from pathlib import Path

import yaml

TASKS = Path(__file__).resolve().parents[2] / "roles" / "smtp_configure" / "tasks"


def _tasks(name: str) -> dict:
    return {t["name"]: t for t in yaml.safe_load((TASKS / name).read_text())}


def _tags(task: dict) -> set:
    return set(task.get("tags") or [])


def test_the_credential_runs_under_any_selection():
    main = _tasks("main.yml")
    assert _tags(main["Resolve the SMTP credential"]) == {"credential", "always"}
    assert main["Resolve the SMTP credential"]["ansible.builtin.import_tasks"] == "credential.yml"


def test_the_plan_and_the_end_of_the_role_run_under_any_selection():
    main = _tasks("main.yml")
    assert _tags(main["Plan the change of every application of the host, writing nothing"]) == {"always"}
    assert _tags(main["End the role on the hosts with nothing to change"]) == {"always"}


def test_each_later_phase_has_its_tag():
    changes = _tasks("changes.yml")
    assert _tags(changes["Install what the presets need"]) == {"write"}
    assert _tags(changes["Check from the hosts that will write that the new settings work, before writing anything"]) \
        == {"preflight"}
    assert _tags(changes["Write the settings of every application of the host, all or nothing"]) == {"write"}
    # Handlers ignore tags: the task that notifies them is the reload phase.
    write = _tasks("write.yml")
    reload_task = write["Note the reloads after a change of settings"]
    assert _tags(reload_task) == {"reload"} and reload_task["notify"] == "smtp_configure reload"
    assert not any("notify" in t for n, t in write.items() if n != "Note the reloads after a change of settings")
