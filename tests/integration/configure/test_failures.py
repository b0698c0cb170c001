# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each failure gives a clear error and leaves host1's Postfix files exactly as they were."""

from __future__ import annotations

from .conftest import POSTFIX_FILES, sha256s, temp_files

HOST = "host1"


def run_and_check_untouched(lab, configure, role_vars):
    before = sha256s(lab, HOST, POSTFIX_FILES)
    run = configure.run(HOST, role_vars)
    assert run.rc != 0, run.output[-3000:]
    assert run.stats(HOST)["failed"] == 1
    assert sha256s(lab, HOST, POSTFIX_FILES) == before
    assert temp_files(lab, HOST, "/etc/postfix") == []
    return run


def test_bad_preset(lab, configure, fresh_postfix, basic_cred, base_vars):
    run = run_and_check_untouched(lab, configure, dict(
        base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "exchange"}]))
    assert "preset" in run.output and "postfix, msmtp" in run.output and "exchange" in run.output


def test_unwritable_path(lab, configure, fresh_postfix, knobs, basic_cred, base_vars):
    # fresh_postfix before knobs: the read-only mount goes first at teardown, then the restore.
    knobs.readonly(HOST, "/etc/postfix")
    run = run_and_check_untouched(lab, configure, dict(
        base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "postfix"}]))
    assert "Read-only file system" in run.output and "/etc/postfix" in run.output
    assert basic_cred["password"] not in run.output


def test_missing_credential_field(lab, configure, fresh_postfix, standins, base_vars):
    run = run_and_check_untouched(lab, configure, dict(
        base_vars, smtp_configure_credential={"type": "basic", "username": standins.mailbox},
        smtp_configure_apps=[{"preset": "postfix"}]))
    assert "The basic credential lacks password" in run.output


def test_failed_preflight(lab, configure, fresh_postfix, standins, base_vars):
    wrong = "Not-The-Password-" + standins.password[::-1]
    run = run_and_check_untouched(lab, configure, dict(
        base_vars, smtp_configure_credential={"type": "basic", "username": standins.mailbox, "password": wrong},
        smtp_configure_apps=[{"preset": "postfix"}]))
    assert "Preflight failed on host1, so no file was written" in run.output
    assert "535 5.7.3" in run.output
    assert wrong not in run.output
