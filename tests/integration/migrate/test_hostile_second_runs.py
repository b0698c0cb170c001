# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile passwords past the first write (issue 21 follow-up), on host2 (Python 3.8), msmtp and Laravel's .env.

The settings tests feed hostile values through one configure run. Here the same kinds of value go through what
comes after it, in file order on one module-scoped set-up (a Vault path of this run, the stand-in's mailbox
accepting only the values under test):
  (a) a second `mailops.smtp.configure` run with the same hostile password: nothing changes, byte for byte;
  (b) `mailops.smtp.rotate` to a new hostile password: both files hold it exactly (Laravel's value read back by
      phpdotenv, msmtp's by msmtp itself logging in with it), and a rerun changes nothing;
  (c) a migrate move of the host (msmtp to XOAUTH2, Laravel through an xoauth2 relay on the host) whose proof
      fails: every file comes back byte-identical, with the hostile password in it;
  (d) a rotation to a value no file can hold (a line separator): refused with the reason, no file changed.
The configure runs also prove that a first host of the play without applications (host1) no longer makes the
credential fetch, which runs once, skip for every host.
Each value holds quotes, a backslash, `${}`, `#{}`, `$x`, Jinja and a comment character; the second also a
`lookup('pipe', 'id')` that must stay literal.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration._readers import hexes
from tests.integration.configure.conftest import read_file
from tests.integration.relay.conftest import pristine_snapshots, restore_host
from tests.integration.rotate.conftest import Rotation, forget_credentials

from .test_move_restore import APP_DIR, CLEAN, HOST, Mover, record

LARAVEL = f"{APP_DIR}/.env"
TAG = uuid.uuid4().hex[:8]
# No line break here: msmtp and .env have none to give (the single-run corpus covers those refusals).
FIRST = "p'a\"s\\s $x ${HOME} #{x} {{ x }} é;#" + TAG
SECOND = "{{ lookup('pipe','id') }} #{y} ${PATH} '\"`id`\\ end=" + TAG
APPS = [{"name": "msmtp", "preset": "msmtp"},
        # Laravel has no setting for an extra CA.
        {"name": "laravel", "preset": "laravel", "path": LARAVEL, "smtp": {"ca_path": None}}]


# Laravel's own reader: vlucas/phpdotenv (Debian's php-vlucas-phpdotenv), as the presets tests read it.
PHPDOTENV = ("require '/usr/share/php/Dotenv/autoload.php';"
             "$e = Dotenv\\Dotenv::createArrayBacked($argv[1])->load(); echo bin2hex($e['MAIL_PASSWORD']), \"\\n\";")


def laravel_password(lab) -> str:
    return hexes(lab.host_run(HOST, ["php", "-r", PHPDOTENV, APP_DIR]).stdout)[0]


def msmtp_logs_in(lab, standins, label: str) -> dict:
    """Send through msmtp; the stand-in accepts only the password under test, so delivery proves it."""
    subject = f"hostile {label} {uuid.uuid4().hex[:8]}"
    p = lab.host_run(HOST, ["msmtp", "-C", "/etc/msmtprc", "-a", "mailops", "ops@contoso.com"],
                     input=f"To: ops@contoso.com\nSubject: {subject}\n\nx\n", check=False, timeout=45)
    assert p.returncode == 0, p.stderr[-2000:]
    got = [m for m in standins.control.messages()
           if any(k.lower() == "subject" and v.strip() == subject for k, v in m["headers"])]
    assert len(got) == 1 and got[0]["auth_identity"] == standins.mailbox, got
    return got[0]


@pytest.fixture(scope="module")
def hostile(lab, standins, tmp_path_factory):
    snaps = pristine_snapshots(lab, HOST)

    def clean():
        lab.host_run(HOST, ["sh", "-c", f"rm -rf {CLEAN}"])
        restore_host(lab, snaps, HOST)
        standins.control.set_mailbox(standins.mailbox, passwords=[standins.password], smtp_auth_disabled=False)

    clean()
    lab.host_run(HOST, ["mkdir", "-p", APP_DIR])
    scratch = tmp_path_factory.mktemp("hostile")
    rot = Rotation(lab, standins, scratch, [HOST], f"smtp/hostile-{uuid.uuid4().hex[:10]}", FIRST)
    rot.secrets.append(SECOND)
    client = rot.vault()
    client.secrets.kv.v2.create_or_update_secret(path=rot.path, mount_point="secret",
                                                 secret={"username": standins.mailbox, "password": FIRST})
    standins.control.set_mailbox(standins.mailbox, passwords=[FIRST])
    try:
        yield rot
    finally:
        clean()
        forget_credentials(client, rot.path)


def run(rot, playbook: str, **extra):
    return rot.run(playbook=playbook, rotate_test_apps={HOST: APPS}, smtp_rotate_serial=1, **extra)


def test_a_second_configure_run_changes_nothing(lab, standins, hostile):
    first = run(hostile, "mailops.smtp.configure")
    assert first.rc == 0, first.output[-4000:]
    assert laravel_password(lab) == FIRST
    msmtp_logs_in(lab, standins, "first")
    files = record(lab)
    assert files["/etc/msmtprc"][0] == "file" and files[LARAVEL][0] == "file", files
    again = run(hostile, "mailops.smtp.configure")
    assert again.rc == 0, again.output[-4000:]
    assert again.stats(HOST)["changed"] == 0, again.changed_tasks()
    assert record(lab) == files


def test_rotate_to_a_new_hostile_password_and_again(lab, standins, hostile):
    standins.control.add_password(standins.mailbox, SECOND)
    rotated = run(hostile, "mailops.smtp.rotate",
                  smtp_rotate_new_credential_file=hostile.new_credential_file(SECOND))
    assert rotated.rc == 0, rotated.output[-4000:]
    report = hostile.report()
    assert report["stored"] is True and {h["result"] for h in report["hosts"]} == {"rotated"}, report
    assert laravel_password(lab) == SECOND
    assert "uid=" not in read_file(lab, HOST, LARAVEL) + read_file(lab, HOST, "/etc/msmtprc")
    # Only SECOND logs in now: msmtp read its password back exactly.
    standins.control.revoke_password(standins.mailbox, FIRST)
    msmtp_logs_in(lab, standins, "rotated")
    files = record(lab)
    again = run(hostile, "mailops.smtp.rotate",
                smtp_rotate_new_credential_file=hostile.new_credential_file(SECOND))
    assert again.rc == 0, again.output[-4000:]
    assert hostile.report()["stored"] is False
    assert record(lab) == files


def test_a_failed_move_restores_the_hostile_files_byte_for_byte(lab, standins, hostile, tmp_path_factory):
    before = record(lab)
    assert laravel_password(lab) == SECOND
    relay = {"host": "127.0.0.1", "port": 25, "designated": False}
    laravel = dict(APPS[1], options={"mode": "via_relay"})
    plan = {
        "host": HOST, "changes": True,
        "apps": [{"name": "msmtp", "preset": "msmtp", "from": "basic", "to": "xoauth2", "relay": None,
                  "blocked": None},
                 {"name": "laravel", "preset": "laravel", "from": "basic", "to": "via_relay", "relay": relay,
                  "blocked": None}],
        "configure_apps": [APPS[0], laravel],
        "relay": {"smtp_relay_upstream": "xoauth2", "smtp_relay_ca_path": lab.ca,
                  "smtp_relay_install_packages": False},
    }
    mover = Mover(lab, standins, tmp_path_factory.mktemp("hostile-move"))
    standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=True)
    try:
        moved_run, moved = mover.run(plan, "test-" + uuid.uuid4().hex[:12], smtp_configure_apps=APPS,
                                     smtp_configure_preflight=False)
    finally:
        standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=False)
    for secret in (FIRST, SECOND):
        assert secret not in moved_run.output
    assert moved is not None and moved["status"] == "restored", moved_run.output[-4000:]
    # It did write both files before the proof failed, else the comparison below would hold trivially.
    assert {"/etc/msmtprc", LARAVEL} <= set(moved["restored_files"]), moved
    after = record(lab)
    assert {p: (before.get(p), after.get(p)) for p in set(before) | set(after) if before.get(p) != after.get(p)} == {}
    assert laravel_password(lab) == SECOND
    msmtp_logs_in(lab, standins, "restored")


def test_a_rotation_to_a_password_no_file_can_hold_is_refused_and_writes_nothing(lab, standins, hostile):
    """A line separator (U+2028): msmtp and .env have no way to carry it (the single-run corpus shows both refuse)."""
    bad = SECOND + "\u2028MAIL_HOST=evil"
    standins.control.add_password(standins.mailbox, bad)
    files, version = record(lab), hostile.vault_version()
    refused = run(hostile, "mailops.smtp.rotate", smtp_rotate_new_credential_file=hostile.new_credential_file(bad))
    assert refused.rc != 0
    assert "line break" in refused.output, refused.output[-4000:]
    assert record(lab) == files
    assert laravel_password(lab) == SECOND
    assert "msmtp: the password contains a line break or record separator" in refused.output
    # Refused on the controller before the store: Vault's current version is still the one every file holds.
    assert "nothing was stored in Vault" in refused.output, refused.output[-4000:]
    assert hostile.vault_version() == version
