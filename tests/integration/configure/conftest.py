# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the smtp_configure role's end-to-end tests on the lab.

Every run goes through `ansible-playbook mailops.smtp.configure`, the way users run it. Role
variables are passed in a 0600 JSON file (-e @file): they hold the stand-in's password.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

TMP_PREFIX = ".mailops-smtp-tmp-"
POSTFIX_FILES = ["/etc/postfix/main.cf", "/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"]
DELIVERY_TIMEOUT = 60


RECAP = re.compile(r"^(\S+)\s+:\s+(.*)$")


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def changed_tasks(self) -> list[str]:
        """The tasks that reported a change, for assertion messages."""
        out, task = [], None
        for line in self.stdout.splitlines():
            if line.startswith("TASK ["):
                task = line
            elif line.startswith("changed:") and task:
                out.append(f"{task} {line}")
        return out

    def stats(self, host: str) -> dict:
        """The PLAY RECAP counters of host: ok, changed, unreachable, failed, skipped, ..."""
        recap = self.stdout.rsplit("PLAY RECAP", 1)
        assert len(recap) == 2, "no PLAY RECAP in:\n" + self.output[-3000:]
        for line in recap[1].splitlines():
            m = RECAP.match(line.strip())
            if m and m.group(1) == host:
                return {k: int(v) for k, v in (kv.split("=") for kv in m.group(2).split())}
        raise AssertionError(f"{host} is not in the PLAY RECAP:\n" + recap[1])

    def result(self, task: str, host: str) -> dict:
        """The result of the task whose name contains `task` on host, from a run with -v."""
        lines = self.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("TASK [") and task in line:
                for follow in lines[i + 1:]:
                    if follow.startswith("TASK [") or follow.startswith("RUNNING HANDLER ["):
                        break
                    for state in ("changed", "ok", "fatal", "skipping"):
                        head = f"{state}: [{host}] => "
                        if follow.startswith(head):
                            return json.loads(follow[len(head):])
        raise AssertionError(f"no result of a task named like {task!r} for {host} (run with -v?):\n"
                             + self.output[-3000:])


class Configure:
    """Runs the configure playbook on the lab with given role variables."""

    def __init__(self, lab, scratch: Path):
        self.lab = lab
        self.scratch = scratch

    def _vars_file(self, role_vars: dict) -> Path:
        f = self.scratch / f"vars-{uuid.uuid4().hex}.json"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(role_vars, fh)
        return f

    def argv(self, hosts: str, role_vars: dict, *extra: str) -> list[str]:
        return ["mailops.smtp.configure", "-l", hosts, "-e", f"@{self._vars_file(role_vars)}", *extra]

    def env(self) -> dict:
        env = dict(self.lab.env)
        env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        return env

    def run(self, hosts: str, role_vars: dict, *extra: str, timeout: float = 300) -> Run:
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        p = subprocess.run([exe, "-i", str(self.lab.inventory), *self.argv(hosts, role_vars, *extra)],
                           capture_output=True, text=True, env=self.env(), cwd=str(self.lab.dir),
                           timeout=timeout, check=False)
        return Run(p.returncode, p.stdout, p.stderr)

    def start(self, hosts: str, role_vars: dict, *extra: str) -> subprocess.Popen:
        """Start a run in its own process group, for tests that kill it."""
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        return subprocess.Popen([exe, "-i", str(self.lab.inventory), *self.argv(hosts, role_vars, *extra)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env(), cwd=str(self.lab.dir), start_new_session=True)


@pytest.fixture(scope="session")
def configure(lab, tmp_path_factory):
    return Configure(lab, tmp_path_factory.mktemp("configure"))


@pytest.fixture(scope="session")
def basic_cred(standins):
    return {"type": "basic", "username": standins.mailbox, "password": standins.password}


@pytest.fixture(scope="session")
def oauth_cred(standins):
    a = standins.app
    return {"type": "oauth2", "username": standins.mailbox, "tenant_id": a.tenant_id,
            "client_id": a.client_id, "client_secret": a.secret}


@pytest.fixture(scope="session")
def base_vars(lab):
    """What every run needs in the lab: trust in the lab CA (the stand-ins' certificates)."""
    return {"smtp_configure_ca_path": lab.ca}


def sha256s(lab, host: str, paths: list[str]) -> dict:
    """{path: sha256 or None when absent}, read on the host."""
    code = ("import hashlib, json, sys\n"
            "out = {}\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n"
            "        out[p] = hashlib.sha256(open(p, 'rb').read()).hexdigest()\n"
            "    except FileNotFoundError:\n"
            "        out[p] = None\n"
            "print(json.dumps(out))\n")
    p = lab.host_run(host, [lab.host(host)["python"], "-c", code, *paths])
    return json.loads(p.stdout)


def temp_files(lab, host: str, directory: str) -> list[str]:
    p = lab.host_run(host, ["find", directory, "-maxdepth", "1", "-name", TMP_PREFIX + "*"])
    return sorted(p.stdout.split())


def read_file(lab, host: str, path: str) -> str:
    return lab.host_run(host, ["cat", path]).stdout


def write_file(lab, host: str, path: str, text: str) -> None:
    lab.host_run(host, ["sh", "-c", 'cat > "$1"', "sh", path], input=text)


def wait_for_message(standins, subject: str, timeout: float = DELIVERY_TIMEOUT) -> dict:
    """Poll the stand-in until a message with this subject has arrived (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in standins.control.messages():
            for k, v in m.get("headers", []):
                if k.lower() == "subject" and v.strip() == subject:
                    return m
        time.sleep(0.5)
    raise AssertionError(f"no message with subject {subject!r} reached the stand-in within {timeout}s")


def postfix_reloads(lab, host: str) -> int:
    """How many times Postfix was reloaded, from its log (the lab has no syslog)."""
    p = lab.host_run(host, ["sh", "-c", "grep -c 'reload -- version' /var/log/postfix.log || true"])
    return int(p.stdout.strip() or 0)


def header(msg: dict, name: str) -> str | None:
    for k, v in msg.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None


@pytest.fixture
def fresh_postfix(lab):
    """host1's Postfix as the lab made it (Debian "Local only"), before and after the test."""
    host = "host1"
    # Keyed by the host's pid: a new lab (a new Debian main.cf) takes a new snapshot.
    snap = lab.dir / f"configure-postfix-main.cf.{lab.host(host)['pid']}"
    if not snap.exists():
        snap.write_text(read_file(lab, host, "/etc/postfix/main.cf"))

    def restore():
        write_file(lab, host, "/etc/postfix/main.cf", snap.read_text())
        lab.host_run(host, ["sh", "-c", "rm -f /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db "
                                        "/etc/postfix/.mailops-smtp-tmp-*; postsuper -d ALL >/dev/null 2>&1; "
                                        "postfix reload"])

    restore()
    yield host
    restore()


MSMTP_HOST = "host2"
RC = "/etc/msmtprc"
ACCOUNT = "mailops"
CRON = f"/etc/cron.d/mailops-smtp-token-{ACCOUNT}"


@pytest.fixture
def clean_msmtp(lab):
    """host2 without msmtp settings, refresher or token, before and after the test."""
    def clean():
        paths = f"{RC} {RC}.* /etc/.mailops-smtp-tmp-msmtprc* {CRON} /etc/mailops-smtp /var/lib/mailops-smtp"
        lab.host_run(MSMTP_HOST, ["sh", "-c", f"rm -rf {paths}"])
    clean()
    yield
    clean()
