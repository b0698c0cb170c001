# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The systemd timer path of the XOAUTH2 token refresher, which the lab cannot run (PID 1 there is
not systemd): the role's unit templates, rendered by Ansible with the role's own variables, pass
`systemd-analyze verify`. Nothing is installed or started; the units stay in a scratch directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

ROLE = REPO / "roles" / "smtp_configure"
ACCOUNT = "mailops"


@pytest.fixture(scope="module")
def units(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("units")
    lib = d / "lib"
    lib.mkdir()
    # ExecStart must name an executable that exists for verify to accept it.
    shutil.copy2(str(ROLE / "files" / "refresh-token"), str(lib / "refresh-token"))
    os.chmod(lib / "refresh-token", 0o755)
    out = d / "out"
    out.mkdir()
    play = d / "render.yml"
    play.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  vars_files: [%s, %s]\n"
        "  vars:\n    smtp_configure_refresher_dir: %s\n"
        "    smtp_configure__app: {account: %s, token_file: /var/lib/mailops-smtp/%s.token, app: {}}\n"
        "  tasks:\n"
        "    - ansible.builtin.template:\n"
        "        src: %s/templates/token-refresh.{{ item }}.j2\n"
        "        dest: %s/mailops-smtp-token-%s.{{ item }}\n"
        "        mode: '0644'\n"
        "      loop: [service, timer]\n"
        % (ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml", lib, ACCOUNT, ACCOUNT, ROLE, out, ACCOUNT))
    exe = Path(sys.executable).parent / "ansible-playbook"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    p = subprocess.run([str(exe), "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable,
                        str(play)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    return out


def test_rendered_units_pass_systemd_analyze_verify(units):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed on this machine (Debian package systemd)")
    files = [units / ("mailops-smtp-token-%s.%s" % (ACCOUNT, kind)) for kind in ("service", "timer")]
    service = files[0].read_text()
    exec_start = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    assert len(exec_start) == 1 and "refresh-token --config /etc/mailops-smtp/%s.oauth.json" % ACCOUNT in exec_start[0]
    p = subprocess.run([tool, "verify", "--man=no", *map(str, files)], capture_output=True, text=True, timeout=120,
                       check=False)
    ours = [line for line in (p.stdout + p.stderr).splitlines() if "mailops-smtp-token" in line]
    assert p.returncode == 0 and not ours, p.stdout + p.stderr
    assert "OnUnitActiveSec=5min" in files[1].read_text()
