# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab set-up shared by the rotation tests: five hosts, a Vault path of their own, v1 everywhere.

Every run goes through `ansible-playbook mailops.smtp.rotate`, the way operators run it. Variables
go in a 0600 JSON file (-e @file); new credentials go in a 0600 file (smtp_rotate_new_credential_file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.configure.conftest import Run, sha256s

MOUNT = "secret"
ENV_DIR = "/srv/rotate-test"
ENV_FILE = f"{ENV_DIR}/app.env"
MSMTPRC = "/etc/msmtprc"
POSTFIX = ["/etc/postfix/main.cf", "/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"]
DELIVERY_TIMEOUT = 60


def apps_for(index: int) -> list[dict]:
    """Postfix everywhere; msmtp on the 2nd and 4th host; a generic env file (probe check) on the 3rd."""
    apps = [{"preset": "postfix"}]
    if index in (1, 3):
        apps.append({"preset": "msmtp"})
    if index == 2:
        apps.append({"name": "app env", "format": "env", "path": ENV_FILE, "smtp": {"ca_path": None},
                     "keys": {"host": "SMTP_HOST", "port": "SMTP_PORT", "username": "SMTP_USER",
                              "password": "SMTP_PASSWORD"}})
    return apps


@dataclass
class Rotation:
    lab: object
    standins: object
    scratch: Path
    hosts: list
    path: str
    # Left out of the repr, which pytest prints with a failed test's arguments.
    v1: str = field(repr=False)
    secrets: list = field(default_factory=list, repr=False)   # every credential a test used, for the leak checks

    # -- running the playbook --------------------------------------------------------------------
    def _private(self, name: str, text: str) -> Path:
        f = self.scratch / f"{name}-{uuid.uuid4().hex}"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return f

    def base_vars(self, **extra) -> dict:
        vault = self.lab.state["vault"]
        v = {
            "mailops_smtp_ca_path": self.lab.ca,
            "mailops_smtp_vault": {"url": vault["https"], "ca_path": self.lab.ca, "mount": MOUNT, "path": self.path,
                                   "auth": {"method": "token", "token_file": vault["token_file"]}},
            "rotate_test_apps": {h: apps_for(i) for i, h in enumerate(self.hosts)},
            "smtp_configure_apps": "{{ rotate_test_apps[inventory_hostname] | default([]) }}",
            "smtp_rotate_hosts": ",".join(self.hosts),
            "smtp_rotate_report_dir": str(self.scratch / "report"),
            "smtp_rotate_check_timeout": 45,
            "smtp_rotate_serial": 2,
        }
        v.update(extra)
        return v

    def new_credential_file(self, secret: str) -> str:
        self.secrets.append(secret)
        return str(self._private("cred", secret + "\n"))

    def run(self, *extra: str, timeout: float = 600, playbook: str = "mailops.smtp.rotate", **role_vars) -> Run:
        vars_file = self._private("vars", json.dumps(self.base_vars(**role_vars)))
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        env = dict(self.lab.env, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        p = subprocess.run([exe, "-i", str(self.lab.inventory), playbook, "-e", f"@{vars_file}", *extra],
                           capture_output=True, text=True, env=env, cwd=str(self.lab.dir), timeout=timeout,
                           check=False, stdin=subprocess.DEVNULL)
        run = Run(p.returncode, p.stdout, p.stderr)
        self.assert_no_leak(run.output)
        return run

    def report(self) -> dict:
        return json.loads((self.scratch / "report" / "rotation.json").read_text())

    def assert_no_leak(self, text: str) -> None:
        for s in [self.v1, *self.secrets]:
            assert s not in text, "a credential appears in the output or the report"
        report_dir = self.scratch / "report"
        for f in report_dir.glob("rotation.*") if report_dir.exists() else []:
            body = f.read_text()
            for s in [self.v1, *self.secrets]:
                assert s not in body, f"a credential appears in {f.name}"

    # -- Vault -----------------------------------------------------------------------------------
    def vault(self):
        import hvac
        vault = self.lab.state["vault"]
        return hvac.Client(url=vault["http"], token=Path(vault["token_file"]).read_text().strip(), timeout=10)

    def vault_version(self) -> int:
        meta = self.vault().secrets.kv.v2.read_secret_metadata(path=self.path, mount_point=MOUNT)
        return int(meta["data"]["current_version"])

    # -- the fleet lock (<path>.lock beside the credential) ---------------------------------------
    def lock(self) -> tuple[dict | None, int]:
        """(the lock record or None, its KV version; 0 when never written)."""
        import hvac
        try:
            r = self.vault().secrets.kv.v2.read_secret_version(path=self.path + ".lock", mount_point=MOUNT,
                                                               raise_on_deleted_version=False)
        except hvac.exceptions.InvalidPath:
            return None, 0
        return r["data"]["data"], int(r["data"]["metadata"]["version"])

    def plant_lock(self, run_id: str, expires_in: int, user: str = "carol", host: str = "ctl-killed") -> dict:
        """Leave a lock record as a run killed mid-way would (held, expiring in expires_in seconds)."""
        now = time.time()
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        record = {"state": "held", "run_id": run_id, "user": user, "host": host,
                  "started_at": time.strftime(fmt, time.gmtime(now - 600)),
                  "renewed_at": time.strftime(fmt, time.gmtime(now - 60)), "ttl": 3600,
                  "expires_at": time.strftime(fmt, time.gmtime(now + expires_in))}
        self.vault().secrets.kv.v2.create_or_update_secret(path=self.path + ".lock", mount_point=MOUNT,
                                                           secret=record)
        return record

    # -- the hosts -------------------------------------------------------------------------------
    def files(self, host: str) -> list[str]:
        i = self.hosts.index(host)
        return POSTFIX + ([MSMTPRC] if i in (1, 3) else []) + ([ENV_FILE] if i == 2 else [])

    def checksums(self) -> dict:
        return {h: sha256s(self.lab, h, self.files(h)) for h in self.hosts}

    def versions(self) -> dict:
        """{host: {app: version after}} from the last report."""
        return {h["host"]: {a["name"]: a["after"] for a in h["apps"]} for h in self.report()["hosts"]}

    def send_everywhere(self, label: str) -> dict:
        """Send one message through every Postfix and msmtp; {subject: host}."""
        sent = {}
        for i, h in enumerate(self.hosts):
            subject = f"rotate {label} postfix {h} {uuid.uuid4().hex[:8]}"
            self.lab.host_run(h, ["sendmail", "-i", "ops@contoso.com"],
                              input=f"To: ops@contoso.com\nSubject: {subject}\n\nx\n")
            sent[subject] = h
            if i in (1, 3):
                subject = f"rotate {label} msmtp {h} {uuid.uuid4().hex[:8]}"
                self.lab.host_run(h, ["msmtp", "-C", MSMTPRC, "-a", "mailops", "ops@contoso.com"],
                                  input=f"To: ops@contoso.com\nSubject: {subject}\n\nx\n", timeout=45)
                sent[subject] = h
        return sent

    def delivered(self, sent: dict, timeout: float = DELIVERY_TIMEOUT) -> dict:
        """Wait (bounded) until every subject reached the stand-in; {subject: message}."""
        deadline, found = time.monotonic() + timeout, {}
        while time.monotonic() < deadline and len(found) < len(sent):
            for m in self.standins.control.messages():
                subj = next((v.strip() for k, v in m.get("headers", []) if k.lower() == "subject"), None)
                if subj in sent:
                    found[subj] = m
            time.sleep(0.5)
        missing = sorted(set(sent) - set(found))
        assert not missing, f"never reached the stand-in: {missing}"
        return found


def _snapshot(lab, hosts) -> dict:
    return {h: lab.host_run(h, ["cat", "/etc/postfix/main.cf"]).stdout for h in hosts}


def _restore(lab, hosts, mains: dict) -> None:
    for h in hosts:
        lab.host_run(h, ["sh", "-c", 'cat > /etc/postfix/main.cf'], input=mains[h])
        lab.host_run(h, ["sh", "-c", f"rm -rf /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db "
                                     f"/etc/postfix/.mailops-smtp-tmp-* {MSMTPRC} /etc/.mailops-smtp-tmp-* {ENV_DIR}; "
                                     "postsuper -d ALL >/dev/null 2>&1; postfix reload >/dev/null 2>&1; true"])


def forget_credentials(client, *paths: str) -> None:
    """Delete each Vault path of a test run and its fleet lock (path + ".lock"), every version."""
    for path in paths:
        for p in (path, path + ".lock"):
            try:
                client.secrets.kv.v2.delete_metadata_and_all_versions(path=p, mount_point=MOUNT)
            except Exception:  # noqa: BLE001 - best effort; the paths are unique to this run
                pass


@contextmanager
def fresh_rotation(lab, standins, scratch: Path, name: str):
    """Five hosts with their mail files put back, and a Vault path of this run at v1; all undone afterwards."""
    hosts = [h["name"] for h in lab.hosts[:5]]
    assert len(hosts) == 5, "the rotation tests need a lab of at least 5 hosts"
    rot = Rotation(lab, standins, scratch, hosts, f"smtp/{name}-{uuid.uuid4().hex[:10]}", standins.password)
    mains = _snapshot(lab, hosts)
    _restore(lab, hosts, mains)
    lab.host_run(hosts[2], ["mkdir", "-p", ENV_DIR])
    client = rot.vault()
    client.secrets.kv.v2.create_or_update_secret(path=rot.path, mount_point=MOUNT,
                                                 secret={"username": standins.mailbox, "password": rot.v1})
    try:
        yield rot
    finally:
        _restore(lab, hosts, mains)
        standins.control.set_mailbox(standins.mailbox, passwords=[standins.password])
        forget_credentials(client, rot.path)


@pytest.fixture(scope="module")
def rotation(lab, standins, tmp_path_factory):
    """Five hosts on v1 of a Vault path of this run; everything put back afterwards."""
    with fresh_rotation(lab, standins, tmp_path_factory.mktemp("rotate"), "rotate") as rot:
        # The latest version (v1) everywhere; a re-roll is asked for explicitly (a run given nothing is refused).
        first = rot.run(smtp_rotate_version="latest")
        assert first.rc == 0, first.output[-4000:]
        assert {a for h in rot.versions().values() for a in h.values()} == {"1"}
        yield rot
