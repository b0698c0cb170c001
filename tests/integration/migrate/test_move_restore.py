# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The move of one host (roles/smtp_migrate/tasks/move.yml, issue 21 §2.3/§2.4), on host2 (Python 3.8).

Before: host2 runs Postfix, msmtp and Grafana on basic auth, written by one configure run with the lab's
basic credential and no from address. The plan (contract 2, written here) moves msmtp to XOAUTH2 and Grafana to the
relay (the proven move also adds a Spring app through the relay, whose file names no sender: its proof is sent as
the mailbox moved to),
and puts an xoauth2 relay on host2's own Postfix, which takes over the Postfix app (docs/relay.md: in the
xoauth2 mode the postfix preset must not also run on that Postfix, so the plan leaves it out of
configure_apps; the relay removes its SASL map).

The failure: the Microsoft 365 stand-in refuses SMTP AUTH for the mailbox (the relay's upstream and msmtp's
XOAUTH2 login alike), while the token endpoint still issues tokens. Configure's per-host preflight is off, so
that the move writes every file and the refusal is met by the proof, after the writes: the case the restore
exists for. Every file is then byte-identical to before, modes and owners too, the applications were
reloaded again, the saved copy is gone, and the outcome says restored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration.configure.conftest import Configure, Run, read_file
from tests.integration.relay.conftest import pristine_snapshots, restore_host

HOST = "host2"
APP_DIR = "/srv/move-test"
GRAFANA = f"{APP_DIR}/grafana.ini"
SPRING = f"{APP_DIR}/application.properties"
# Outside the directories compared before and after (WATCHED).
RELOADS = "/root/move-test-grafana-reloads"
STATE_DIR = "/var/lib/mailops-smtp/migrate"
TO = "ops@contoso.com"
# Everything the move may touch on host2, compared whole (directories recursively) before and after.
WATCHED = ["/etc/postfix", "/etc/msmtprc", "/etc/msmtprc.ca-bundle.pem", APP_DIR, "/etc/mailops-smtp",
           "/usr/local/lib/mailops-smtp", "/var/lib/mailops-smtp", "/etc/cron.d"]
CLEAN = ("/etc/msmtprc /etc/msmtprc.ca-bundle.pem /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db "
         f"/etc/cron.d/mailops-smtp-token-mailops {APP_DIR} {RELOADS} /var/lib/mailops-smtp")

# Every path under the given ones: [kind, sha256 or link target, mode, uid, gid], or None when absent.
RECORD = r"""
import hashlib, json, os, stat, sys
out = {}
def rec(p):
    try:
        st = os.lstat(p)
    except OSError:
        out[p] = None
        return
    attrs = [stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
    if stat.S_ISLNK(st.st_mode):
        out[p] = ["link", os.readlink(p)] + attrs
    elif stat.S_ISDIR(st.st_mode):
        out[p] = ["dir", None] + attrs
        for n in sorted(os.listdir(p)):
            rec(os.path.join(p, n))
    else:
        with open(p, "rb") as f:
            out[p] = ["file", hashlib.sha256(f.read()).hexdigest()] + attrs
for p in sys.argv[1:]:
    rec(p)
print(json.dumps(out))
"""

PLAYBOOK = """\
- name: Move one host as the migrate playbook does (contract 3)
  hosts: {host}
  gather_facts: false
  vars_files: [{vars_file}]
  tasks:
    - name: Note the mailbox of the credential moved to, as the prove phase does
      ansible.builtin.set_fact:
        smtp_migrate__mailbox: "{{{{ move_test_mailbox }}}}"
      delegate_to: localhost
      delegate_facts: true
      run_once: true
    - name: The move
      block:
        - name: Move
          ansible.builtin.include_role:
            name: mailops.smtp.smtp_migrate
            tasks_from: move
      always:
        - name: Keep the outcome for the test
          ansible.builtin.copy:
            content: "{{{{ smtp_migrate__moved | default(None) | to_json }}}}"
            dest: "{outcome}"
            mode: "0600"
          delegate_to: localhost
"""


def record(lab) -> dict:
    return json.loads(lab.host_run(HOST, [lab.host(HOST)["python"], "-c", RECORD, *WATCHED]).stdout)


def grafana_app(options: dict | None = None) -> dict:
    # Grafana reads only the system trust store: no extra CA (docs/configure.md). Its reload command leaves a
    # line per reload, so the test can count them.
    app = {"name": "grafana", "preset": "grafana", "path": GRAFANA, "smtp": {"ca_path": None},
           "reload_command": f"sh -c 'echo reloaded >> {RELOADS}'"}
    return dict(app, options=options) if options else app


def spring_app(options: dict | None = None) -> dict:
    # Spring reads only the system trust store (as Grafana).
    app = {"name": "spring", "preset": "spring", "path": SPRING, "smtp": {"ca_path": None}}
    return dict(app, options=options) if options else app


OLD_APPS = [{"name": "postfix", "preset": "postfix"}, {"name": "msmtp", "preset": "msmtp"}, grafana_app()]


def plan(lab, changes: bool = True, spring: bool = False) -> dict:
    """Contract 2's plan for host2: msmtp native XOAUTH2, Grafana and Postfix through an xoauth2 relay on host2
    (and a new Spring app through it, when spring)."""
    relay = {"host": "127.0.0.1", "port": 25, "designated": False}
    the_plan = {
        "host": HOST,
        "changes": changes,
        "apps": [
            {"name": "postfix", "preset": "postfix", "from": "basic", "to": "via_relay", "relay": relay,
             "blocked": None},
            {"name": "msmtp", "preset": "msmtp", "from": "basic", "to": "xoauth2", "relay": None, "blocked": None},
            {"name": "grafana", "preset": "grafana", "from": "basic", "to": "via_relay", "relay": relay,
             "blocked": None},
        ],
        "configure_apps": [{"name": "msmtp", "preset": "msmtp"}, grafana_app({"mode": "via_relay"})],
        "relay": {"smtp_relay_upstream": "xoauth2", "smtp_relay_ca_path": lab.ca, "smtp_relay_install_packages": False},
    }
    if spring:
        the_plan["apps"].append({"name": "spring", "preset": "spring", "from": "none", "to": "via_relay",
                                 "relay": relay, "blocked": None})
        the_plan["configure_apps"].append(spring_app({"mode": "via_relay"}))
    return the_plan


class Mover:
    def __init__(self, lab, standins, scratch: Path):
        self.lab, self.standins, self.scratch = lab, standins, scratch
        self.lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())

    def _private(self, name: str, text: str) -> Path:
        f = self.scratch / f"{name}-{uuid.uuid4().hex}"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return f

    def run(self, the_plan: dict, run_id: str, **extra) -> tuple[Run, dict | None]:
        """The move through a playbook of its own; play variables (not -e, which would beat the move's own)."""
        play_vars = {
            "smtp_migrate__plan": the_plan, "smtp_migrate__run_id": run_id,
            "smtp_migrate_state_dir": STATE_DIR, "smtp_migrate_vault": self.lab_vars["mailops_smtp_vault_oauth"],
            "smtp_migrate_proof_recipient": TO, "smtp_migrate_proof_timeout": 30,
            "smtp_migrate_relay_log": "/var/log/postfix.log",
            "smtp_configure_apps": OLD_APPS, "smtp_configure_ca_path": self.lab.ca,
            # No from address: Spring's via_relay file names no sender, and its proof is sent as this mailbox.
            "move_test_mailbox": self.standins.mailbox,
        }
        play_vars.update(extra)
        vars_file = self._private("vars", json.dumps(play_vars))
        outcome = self.scratch / f"outcome-{uuid.uuid4().hex}.json"
        playbook = self._private("move", PLAYBOOK.format(host=HOST, vars_file=vars_file, outcome=outcome))
        playbook = playbook.rename(playbook.with_suffix(".yml"))
        exe = str(Path(sys.executable).parent / "ansible-playbook")
        env = dict(self.lab.env, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        p = subprocess.run([exe, "-i", str(self.lab.inventory), str(playbook)], capture_output=True, text=True,
                           env=env, cwd=str(self.lab.dir), timeout=600, check=False, stdin=subprocess.DEVNULL)
        run = Run(p.returncode, p.stdout, p.stderr)
        for secret in (self.standins.password, self.standins.app.secret):
            assert secret not in run.output, "a credential appears in the output"
        moved = json.loads(outcome.read_text()) if outcome.exists() else None
        return run, moved


def reloads(lab) -> int:
    return read_file(lab, HOST, RELOADS).count("reloaded")


def postfix_starts(lab) -> int:
    return read_file(lab, HOST, "/var/log/postfix.log").count("daemon started")


@pytest.fixture(scope="module")
def basic_host(lab, standins, tmp_path_factory):
    """host2 on basic auth (Postfix, msmtp, Grafana), written by configure; put back as the lab made it after."""
    snaps = pristine_snapshots(lab, HOST)

    def clean():
        lab.host_run(HOST, ["sh", "-c", f"rm -rf {CLEAN}"])
        restore_host(lab, snaps, HOST)
        standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=False)

    clean()
    lab.host_run(HOST, ["mkdir", "-p", APP_DIR])
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    configure = Configure(lab, tmp_path_factory.mktemp("move-configure"))
    run = configure.run(HOST, {"smtp_configure_vault": lab_vars["mailops_smtp_vault"],
                               "smtp_configure_ca_path": lab.ca, "smtp_configure_apps": OLD_APPS})
    assert run.rc == 0, run.output[-4000:]
    assert "password" in read_file(lab, HOST, "/etc/msmtprc")
    try:
        yield Mover(lab, standins, tmp_path_factory.mktemp("move"))
    finally:
        clean()


@pytest.fixture(scope="module")
def failed_move(lab, standins, basic_host):
    """The move with the stand-in refusing SMTP AUTH for the mailbox: it writes, its proof fails, it restores."""
    before = record(lab)
    reloads_before, starts_before = reloads(lab), postfix_starts(lab)
    run_id = "test-" + uuid.uuid4().hex[:12]
    standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=True)
    try:
        run, moved = basic_host.run(plan(lab), run_id, smtp_configure_preflight=False)
        # Read while the stand-in still refuses: a message left in the queue could not have left meanwhile.
        queued = [line for line in lab.host_run(HOST, ["postqueue", "-j"]).stdout.splitlines() if line.strip()]
    finally:
        standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=False)
    return {"run": run, "moved": moved, "before": before, "after": record(lab), "run_id": run_id, "queued": queued,
            "reloads": reloads(lab) - reloads_before, "postfix_starts": postfix_starts(lab) - starts_before}


def wrote_then_restored(failed_move) -> None:
    """The move did write host2's files before it failed (else every check below would hold trivially)."""
    moved = failed_move["moved"]
    assert moved is not None and moved["status"] == "restored", failed_move["run"].output[-4000:]
    assert {"/etc/msmtprc", GRAFANA, "/etc/postfix/main.cf"} <= set(moved["restored_files"]), moved


def test_a_failed_move_fails_the_host_and_says_restored(failed_move):
    run, moved = failed_move["run"], failed_move["moved"]
    assert run.rc != 0 and run.stats(HOST)["failed"] == 1, run.output[-4000:]
    assert moved is not None, run.output[-4000:]
    assert moved["status"] == "restored", moved
    # The move wrote (then the proof failed): what it wrote, and the SASL map the relay removed, came back;
    # the refresher's and the relay's directories, which did not exist, went whole.
    for path in ("/etc/msmtprc", GRAFANA, "/etc/postfix/main.cf", "/etc/postfix/master.cf",
                 "/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db", "/etc/cron.d/mailops-smtp-relay-token",
                 "/etc/mailops-smtp", "/usr/local/lib/mailops-smtp"):
        assert path in moved["restored_files"], (path, moved["restored_files"])
    assert re.search(r"HOST: the move failed, so its previous files were put back exactly \(\d+ restored\) and "
                     r"its applications reloaded\. Why it failed: .*pro(ve|of)".replace("HOST", HOST),
                     moved["message"], re.I | re.S), moved["message"]
    assert "HOST: the move failed".replace("HOST", HOST) in run.output


def test_every_file_is_back_byte_for_byte_with_its_mode_and_owner(failed_move):
    wrote_then_restored(failed_move)
    before, after = failed_move["before"], failed_move["after"]
    # What there was to get back: a 0600 password map, and no refresher or relay directory at all.
    assert before["/etc/postfix/sasl_passwd"][0] == "file" and before["/etc/postfix/sasl_passwd"][2] == 0o600
    assert before["/etc/mailops-smtp"] is None and before["/usr/local/lib/mailops-smtp"] is None
    differ = {p: (before.get(p), after.get(p)) for p in sorted(set(before) | set(after))
              if before.get(p) != after.get(p)}
    # No exception: the state directory and the parents the move created for it are gone too.
    assert before["/var/lib/mailops-smtp"] is None and after["/var/lib/mailops-smtp"] is None
    assert differ == {}


def test_the_saved_copy_is_gone_with_the_state_directory_the_move_made(lab, failed_move):
    wrote_then_restored(failed_move)
    assert failed_move["after"].get(f"{STATE_DIR}/{failed_move['run_id']}") is None
    # The move made the state directory and its parent (neither was there before): it removed both.
    gone = lab.host_run(HOST, ["sh", "-c", f"test -e {STATE_DIR} || test -e /var/lib/mailops-smtp || echo gone"])
    assert gone.stdout.strip() == "gone", lab.host_run(HOST, ["ls", "-la", "/var/lib/mailops-smtp"], check=False).stdout


def test_no_proof_message_is_left_to_leave_the_previous_way(failed_move):
    wrote_then_restored(failed_move)
    # The relay took Grafana's proof and could not deliver it; with the previous files back, Postfix would send
    # it by the previous way. The restore drops it from the queue.
    assert failed_move["queued"] == []


def test_the_applications_were_reloaded_after_the_restore(failed_move):
    wrote_then_restored(failed_move)
    # Grafana: once by configure's handler after the write, once after the restore.
    assert failed_move["reloads"] == 2, failed_move["run"].output[-4000:]
    # The relay's Postfix is stopped and started with its files back.
    assert failed_move["postfix_starts"] >= 1


def test_a_proven_move_stays_and_a_rerun_changes_nothing(lab, standins, failed_move, basic_host):
    run, moved = basic_host.run(plan(lab, spring=True), "test-" + uuid.uuid4().hex[:12])
    assert run.rc == 0, run.output[-4000:]
    assert moved["status"] == "moved", moved
    assert all(a["proof"]["accepted"] for a in moved["apps"]), moved["apps"]
    assert "auth xoauth2" in read_file(lab, HOST, "/etc/msmtprc")
    assert "127.0.0.1:25" in read_file(lab, HOST, GRAFANA)
    # Spring's via_relay file names no sender; its proof went out as the mailbox moved to, and was accepted.
    spring = read_file(lab, HOST, SPRING)
    assert "127.0.0.1" in spring and "username" not in spring and "from" not in spring, spring
    proofs = {a["name"]: a["proof"] for a in moved["apps"]}
    assert proofs["spring"]["accepted"] is True and proofs["spring"]["kind"] == "smtp_client", proofs["spring"]
    got = [m for m in standins.control.messages()
           if any(k.lower() == "message-id" and v.strip() == proofs["spring"]["message_id"] for k, v in m["headers"])]
    assert [m["envelope_from"] for m in got] == [standins.mailbox], got
    assert lab.host_run(HOST, ["test", "-e", "/etc/postfix/sasl_passwd"], check=False).returncode != 0
    # The saved copy and the state directory are gone (its parent stays: the relay's token is in it).
    assert lab.host_run(HOST, ["test", "-e", STATE_DIR], check=False).returncode != 0
    files = record(lab)
    rerun, again = basic_host.run(plan(lab, changes=False, spring=True), "test-" + uuid.uuid4().hex[:12])
    assert rerun.rc == 0 and again["status"] == "unchanged", rerun.output[-4000:]
    assert record(lab) == files
