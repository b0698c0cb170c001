# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""host2: msmtp configured by the role, with basic auth, then XOAUTH2 through the token refresher."""

from __future__ import annotations

import shlex
import uuid


from .conftest import ACCOUNT, CRON, MSMTP_HOST as HOST, RC, sha256s, wait_for_message

TOKEN = f"/var/lib/mailops-smtp/{ACCOUNT}.token"


def send(lab, standins, subject: str) -> dict:
    msg = f"From: {standins.mailbox}\nTo: ops@contoso.com\nSubject: {subject}\n\nfrom host2\n"
    p = lab.host_run(HOST, ["msmtp", "-C", RC, "-a", ACCOUNT, "ops@contoso.com"], input=msg, check=False)
    assert p.returncode == 0, p.stderr[-500:]
    return wait_for_message(standins, subject)


def test_basic_auth(lab, standins, configure, clean_msmtp, basic_cred, base_vars):
    role_vars = dict(base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "msmtp"}])
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, run.output[-3000:]
    m = send(lab, standins, f"msmtp basic {uuid.uuid4().hex}")
    assert m["auth_mechanism"] == "LOGIN"
    assert m["auth_identity"] == standins.mailbox

    again = configure.run(HOST, role_vars)
    assert again.rc == 0 and again.stats(HOST)["changed"] == 0, again.changed_tasks() or again.output[-3000:]


def test_xoauth2_through_the_refresher(lab, standins, configure, clean_msmtp, oauth_cred, base_vars):
    role_vars = dict(base_vars, smtp_configure_credential=oauth_cred, smtp_configure_apps=[{"preset": "msmtp"}])
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, run.output[-3000:]
    assert oauth_cred["client_secret"] not in run.output
    rc = lab.host_run(HOST, ["cat", RC]).stdout
    assert "auth xoauth2" in rc and f'passwordeval "cat {TOKEN}"' in rc
    # No systemd in the lab: the role scheduled the refresher with cron.
    cron = lab.host_run(HOST, ["cat", CRON]).stdout
    job = [line for line in cron.splitlines() if line.strip() and not line.startswith("#")]
    assert len(job) == 1 and job[0].startswith("*/5 * * * * root ")
    argv = shlex.split(job[0].split(" root ", 1)[1])
    assert argv[-1] == "--quiet"

    # The refresher, called directly as cron would: it renews when asked to, writes 0600...
    p = lab.host_run(HOST, argv[:-1] + ["--force"], check=False)
    assert p.returncode == 0 and p.stdout.startswith("renewed"), p.stderr
    mode = lab.host_run(HOST, ["stat", "-c", "%a %U", TOKEN]).stdout.split()
    assert mode == ["600", "root"]
    # ...and leaves a token with enough life alone, but renews one about to lapse.
    p = lab.host_run(HOST, argv[:-1], check=False)
    assert p.returncode == 0 and p.stdout.startswith("still valid"), p.stdout + p.stderr
    before = sha256s(lab, HOST, [TOKEN])
    p = lab.host_run(HOST, argv[:-1] + ["--min-validity", "100000"], check=False)
    assert p.returncode == 0 and p.stdout.startswith("renewed"), p.stdout + p.stderr
    assert sha256s(lab, HOST, [TOKEN]) != before

    m = send(lab, standins, f"msmtp xoauth2 {uuid.uuid4().hex}")
    assert m["auth_mechanism"] == "XOAUTH2"
    assert m["auth_identity"] == standins.mailbox

    again = configure.run(HOST, role_vars)
    assert again.rc == 0 and again.stats(HOST)["changed"] == 0, again.changed_tasks() or again.output[-3000:]
