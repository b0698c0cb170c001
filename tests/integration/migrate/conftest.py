# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab set-up of the migrate tests: two hosts on basic auth (Postfix and msmtp, Grafana), the basic
credential and the oauth2 one to move to in Vault paths of this run; everything put back afterwards.

Every run goes through `ansible-playbook mailops.smtp.migrate`, the way operators run it; the hosts are put on
basic auth first with `mailops.smtp.configure`. Each host's apps and basic credential go in an inventory source of
the test's own, beside the lab's, as operators keep them (given with -e, smtp_configure_apps would outrank the
plan's apps in the move, and migrate refuses the run); the role variables go in a 0600 JSON file (-e @file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.configure.conftest import Run, sha256s
from tests.integration.rotate.conftest import forget_credentials

MOUNT = "secret"
GRAFANA = "/etc/grafana/grafana.ini"
POSTFIX = ["/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/postfix/sasl_passwd",
           "/etc/postfix/sasl_passwd.db"]
MSMTPRC = "/etc/msmtprc"
# What the relay (smtp_relay) and the moved msmtp would write: absent before, and after a --check.
RELAY_FILES = ["/etc/mailops-smtp/relay.oauth.json", "/etc/mailops-smtp/relay-msmtprc",
               "/var/lib/mailops-smtp/relay.token", "/etc/mailops-smtp/mailops.oauth.json"]


def apps_for(index: int) -> list[dict]:
    """Postfix and msmtp on the first host, Grafana on the second."""
    # Grafana reads only the system trust store: the lab CA is not given to it (as in the presets tests).
    return [{"preset": "postfix"}, {"preset": "msmtp"}] if index == 0 else [{"preset": "grafana",
                                                                             "smtp": {"ca_path": None}}]


@dataclass
class Migration:
    lab: object
    standins: object
    scratch: Path
    hosts: list
    basic_path: str
    oauth_path: str
    # {host: smtp_configure_apps}, in the test's inventory source (default: apps_for each host).
    apps: dict = None
    # More inventory variables per host, beside smtp_configure_apps and mailops_smtp_vault.
    host_vars: dict = field(default_factory=dict)
    # Role variables every run of this migration gets (-e), under those a run gives.
    role_vars: dict = field(default_factory=dict)
    # Left out of the repr, which pytest prints with a failed test's arguments.
    secrets: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        if self.apps is None:
            self.apps = {h: apps_for(i) for i, h in enumerate(self.hosts)}

    def _private(self, name: str, text: str) -> Path:
        f = self.scratch / f"{name}-{uuid.uuid4().hex}"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return f

    def vault_options(self, path: str) -> dict:
        vault = self.lab.state["vault"]
        return {"url": vault["https"], "ca_path": self.lab.ca, "mount": MOUNT, "path": path,
                "auth": {"method": "token", "token_file": vault["token_file"]}}

    def inventory(self) -> Path:
        """Each host's smtp_configure_apps and basic credential (and host_vars), as an inventory source."""
        hosts = {h: dict(self.host_vars.get(h, {}), smtp_configure_apps=apps,
                         mailops_smtp_vault=self.vault_options(self.basic_path)) for h, apps in self.apps.items()}
        f = self._private("inventory", json.dumps({"all": {"hosts": hosts}}))
        return f.rename(f.with_suffix(".json"))

    def base_vars(self, **extra) -> dict:
        v = {
            "mailops_smtp_ca_path": self.lab.ca,
            "smtp_migrate_hosts": ",".join(self.hosts),
            "smtp_migrate_vault": dict(self.vault_options(self.oauth_path), oauth_ca_path=self.lab.ca,
                                       oauth_authority="https://login.microsoftonline.com"),
            "smtp_migrate_report_dir": str(self.scratch / "report"),
            "smtp_migrate_serial": 1,
        }
        v.update(self.role_vars)
        v.update(extra)
        return v

    def run(self, *extra: str, playbook: str = "mailops.smtp.migrate", timeout: float = 600, on_line=None,
            **role_vars) -> Run:
        """One ansible-playbook run. on_line(line, process), when given, sees each line of the output as it comes
        (a test that acts at a given step of the run)."""
        vars_file = self._private("vars", json.dumps(self.base_vars(**role_vars)))
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        env = dict(self.lab.env, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        argv = [exe, "-i", str(self.lab.inventory), "-i", str(self.inventory()), playbook, "-e", f"@{vars_file}",
                *extra]
        if playbook != "mailops.smtp.migrate":
            argv += ["-l", ",".join(self.hosts)]
        if on_line is None:
            p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(self.lab.dir), timeout=timeout,
                               check=False, stdin=subprocess.DEVNULL)
            run = Run(p.returncode, p.stdout, p.stderr)
        else:
            run = _streamed(argv, env, str(self.lab.dir), timeout, on_line)
        self.assert_no_leak(run.output)
        return run

    def report(self) -> dict:
        return json.loads((self.scratch / "report" / "migration.json").read_text())

    def configure_move_rerun(self) -> dict:
        """Configure the hosts on basic auth, migrate them, then migrate again: the runs, both reports, and
        what a rerun must leave as it was (each host's file checksums, the stand-in's message count)."""
        configured = self.run(playbook="mailops.smtp.configure")
        assert configured.rc == 0, configured.output[-4000:]
        first = self.run()
        report = self.report()
        before_rerun = self.checksums()
        sent_before_rerun = len(self.standins.control.messages())
        rerun = self.run()
        return {"mig": self, "first": first, "report": report, "rerun": rerun, "rerun_report": self.report(),
                "before_rerun": before_rerun, "sent_before_rerun": sent_before_rerun}

    def assert_no_leak(self, text: str) -> None:
        report_dir = self.scratch / "report"
        bodies = [text] + [f.read_text() for f in report_dir.rglob("*") if f.is_file()] if report_dir.exists() \
            else [text]
        for body in bodies:
            for s in self.secrets:
                assert s not in body, "a credential appears in the output or a report"

    # -- Vault -----------------------------------------------------------------------------------
    def vault(self):
        import hvac
        vault = self.lab.state["vault"]
        return hvac.Client(url=vault["http"], token=Path(vault["token_file"]).read_text().strip(), timeout=10)

    def store_credentials(self) -> None:
        """The basic credential (the hosts' today) and the oauth2 one to move to, in this run's Vault paths."""
        client, app = self.vault(), self.standins.app
        client.secrets.kv.v2.create_or_update_secret(path=self.basic_path, mount_point=MOUNT, secret={
            "username": self.standins.mailbox, "password": self.standins.password})
        client.secrets.kv.v2.create_or_update_secret(path=self.oauth_path, mount_point=MOUNT, secret={
            "username": self.standins.mailbox, "tenant_id": app.tenant_id, "client_id": app.client_id,
            "client_secret": app.secret})

    def forget_credentials(self) -> None:
        """Both Vault paths of this run and their fleet locks (the rotation tests' clean-up)."""
        forget_credentials(self.vault(), self.basic_path, self.oauth_path)

    def lock(self, path: str) -> dict | None:
        import hvac
        try:
            r = self.vault().secrets.kv.v2.read_secret_version(path=path + ".lock", mount_point=MOUNT,
                                                               raise_on_deleted_version=False)
        except hvac.exceptions.InvalidPath:
            return None
        return r["data"]["data"]

    def plant_lock(self, path: str, run_id: str, expires_in: int = 1800) -> dict:
        """Leave a lock record as another run holding it would (held, expiring in expires_in seconds)."""
        now = time.time()
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        record = {"state": "held", "run_id": run_id, "user": "carol", "host": "ctl-other",
                  "started_at": time.strftime(fmt, time.gmtime(now - 600)),
                  "renewed_at": time.strftime(fmt, time.gmtime(now - 60)), "ttl": 3600,
                  "expires_at": time.strftime(fmt, time.gmtime(now + expires_in))}
        self.vault().secrets.kv.v2.create_or_update_secret(path=path + ".lock", mount_point=MOUNT, secret=record)
        return record

    # -- the hosts -------------------------------------------------------------------------------
    def files(self, host: str) -> list[str]:
        i = self.hosts.index(host)
        return POSTFIX + RELAY_FILES + ([MSMTPRC] if i == 0 else [GRAFANA])

    def checksums(self) -> dict:
        return {h: sha256s(self.lab, h, self.files(h)) for h in self.hosts}


def _streamed(argv: list, env: dict, cwd: str, timeout: float, on_line) -> Run:
    """A run whose output lines are handed to on_line(line, process) as they come."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL) as p:
        # Read beside stdout, so that a full stderr pipe cannot stall the run.
        err: list = []
        reader = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
        reader.start()
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            out = []
            for line in p.stdout:
                out.append(line)
                on_line(line, p)
            p.wait()
        finally:
            timer.cancel()
        reader.join(30)
    return Run(p.returncode, "".join(out), "".join(err))


def _reset_hosts(lab, hosts, mains: dict) -> None:
    for h in hosts:
        lab.host_run(h, ["sh", "-c", "cat > /etc/postfix/main.cf"], input=mains[h]["main"])
        lab.host_run(h, ["sh", "-c", "cat > /etc/postfix/master.cf"], input=mains[h]["master"])
        lab.host_run(h, ["sh", "-c", f"rm -rf /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db "
                                     f"/etc/postfix/.mailops-smtp-tmp-* {MSMTPRC} /etc/.mailops-smtp-tmp-* "
                                     "/etc/grafana /etc/mailops-smtp /var/lib/mailops-smtp; "
                                     "postsuper -d ALL >/dev/null 2>&1; postfix reload >/dev/null 2>&1; true"])


@contextmanager
def fresh_migration(lab, standins, scratch: Path, name: str):
    """Two hosts on basic auth (configured by mailops.smtp.configure), the basic credential and the oauth2 one
    in Vault paths of this run; all undone afterwards."""
    hosts = [h["name"] for h in lab.hosts[:2]]
    assert len(hosts) == 2, "the migrate tests need a lab of at least 2 hosts"
    tag = uuid.uuid4().hex[:10]
    mig = Migration(lab, standins, scratch, hosts, f"smtp/{name}-basic-{tag}", f"smtp/{name}-oauth-{tag}")
    mig.secrets += [standins.password, standins.app.secret]
    mains = {h: {"main": lab.host_run(h, ["cat", "/etc/postfix/main.cf"]).stdout,
                 "master": lab.host_run(h, ["cat", "/etc/postfix/master.cf"]).stdout} for h in hosts}
    _reset_hosts(lab, hosts, mains)
    lab.host_run(hosts[1], ["sh", "-c", "mkdir -p /etc/grafana && cat > " + GRAFANA], input="[server]\nhttp_port = 3000\n")
    mig.store_credentials()
    try:
        yield mig
    finally:
        _reset_hosts(lab, hosts, mains)
        mig.forget_credentials()
