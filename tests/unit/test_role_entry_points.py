# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A role entry point that cannot do its job says so (no lab needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_smtp_rotate_as_a_plain_role_fails_and_says_how_rotation_is_run(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n"
                    "  roles: [mailops.smtp.smtp_rotate]\n")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build" / "collections")))
    p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                        "-e", "ansible_python_interpreter=" + sys.executable, str(play)],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "Explain how a rotation is run" in out
    assert "ansible-playbook mailops.smtp.rotate" in out and "tasks_from" in out, out


def test_smtp_migrate_as_a_plain_role_fails_and_says_how_a_migration_is_run(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n"
                    "  roles: [mailops.smtp.smtp_migrate]\n")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build" / "collections")))
    p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                        "-e", "ansible_python_interpreter=" + sys.executable, str(play)],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "Explain how a migration is run" in out
    assert "ansible-playbook mailops.smtp.migrate" in out and "tasks_from" in out, out
