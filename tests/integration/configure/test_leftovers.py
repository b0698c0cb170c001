# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secret files a mode no longer uses (issue 16, item 6).

host1's Postfix moves from relay (SASL map) to connector mode; host2's msmtp moves from XOAUTH2 (the token
refresher) to a password. Configure removes what it wrote for the old mode and says so (check mode only says
it), and keeps a file it never wrote.
"""

from __future__ import annotations

from .conftest import ACCOUNT, CRON, MSMTP_HOST, POSTFIX_FILES, sha256s, write_file

POSTFIX_HOST = "host1"
SASL = ["/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"]
REMOVE_TASK = "Remove the secret files"
# The plan of each host finds them (issue 18: one module run per host when nothing changes).
PLAN_TASK = "Plan the change of every application of the host"
# What the refresher of msmtp account `mailops` leaves: its credential (and the file's drift marker),
# the token (and its expiry), and its cron entry (no systemd in the lab).
OAUTH_CONFIG = f"/etc/mailops-smtp/{ACCOUNT}.oauth.json"
TOKEN = f"/var/lib/mailops-smtp/{ACCOUNT}.token"
REFRESHER_FILES = [OAUTH_CONFIG, OAUTH_CONFIG + ".mailops-smtp.json", TOKEN, TOKEN + ".json", CRON]


def connector_vars(lab, standins, base_vars) -> dict:
    pki = lab.state["pki"]["client"]
    return dict(base_vars, smtp_configure_from_address=standins.mailbox, smtp_configure_apps=[{
        "preset": "postfix",
        "options": {"mode": "connector", "tenant": lab.state["tenant_domain"],
                    "client_cert": pki["cert"], "client_key": pki["key"]},
    }])


def test_postfix_moved_to_connector_mode_loses_its_sasl_map(lab, standins, configure, fresh_postfix, basic_cred,
                                                            base_vars):
    relay = dict(base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "postfix"}])
    first = configure.run(POSTFIX_HOST, relay)
    assert first.rc == 0, first.output[-3000:]
    before = sha256s(lab, POSTFIX_HOST, POSTFIX_FILES)
    assert all(before[p] for p in SASL), before
    connector = connector_vars(lab, standins, base_vars)

    # Check mode names what it would remove, removes nothing, and its diff shows no secret.
    check = configure.run(POSTFIX_HOST, connector, "--check", "--diff", "-v")
    assert check.rc == 0, check.output[-3000:]
    would = check.result(REMOVE_TASK, POSTFIX_HOST)
    assert would["changed"] is True and sorted(would["removed"]) == sorted(SASL), would
    assert sha256s(lab, POSTFIX_HOST, POSTFIX_FILES) == before
    for path in SASL:
        assert f"--- before: {path}" in check.stdout and f"+++ after: {path}" in check.stdout, check.stdout[-3000:]
    assert basic_cred["password"] not in check.output

    run = configure.run(POSTFIX_HOST, connector, "-v")
    assert run.rc == 0, run.output[-3000:]
    done = run.result(REMOVE_TASK, POSTFIX_HOST)
    assert done["changed"] is True and sorted(done["removed"]) == sorted(SASL), done
    assert sha256s(lab, POSTFIX_HOST, SASL) == {p: None for p in SASL}
    assert basic_cred["password"] not in run.output
    conf = lab.host_run(POSTFIX_HOST, ["postconf", "-h", "smtp_sasl_auth_enable", "smtp_sasl_password_maps"]).stdout
    assert conf.split() == ["no"]

    again = configure.run(POSTFIX_HOST, connector)
    assert again.rc == 0 and again.stats(POSTFIX_HOST)["changed"] == 0, again.changed_tasks() or again.output[-3000:]


def test_a_sasl_map_the_collection_never_wrote_is_kept(lab, standins, configure, fresh_postfix, base_vars):
    """The operator's own map (no drift marker): connector mode leaves it, and the result says why."""
    write_file(lab, POSTFIX_HOST, SASL[0], "[relay.example.net]:587 someone:their-own-secret\n")
    lab.host_run(POSTFIX_HOST, ["postmap", f"hash:{SASL[0]}"])
    before = sha256s(lab, POSTFIX_HOST, SASL)
    assert all(before.values()), before
    run = configure.run(POSTFIX_HOST, connector_vars(lab, standins, base_vars), "-v")
    assert run.rc == 0, run.output[-3000:]
    assert sha256s(lab, POSTFIX_HOST, SASL) == before
    res = run.result(PLAN_TASK, POSTFIX_HOST)["leftovers"]
    assert res["changed"] is False and res["removed"] == [], res
    assert f"TASK [mailops.smtp.smtp_configure : {REMOVE_TASK}" not in run.stdout  # nothing to remove, no flush
    kept = {k["path"]: k["reason"] for k in res["kept"]}
    assert set(kept) == set(SASL) and "not written by mailops.smtp" in kept[SASL[0]], kept
    assert "their-own-secret" not in run.output


def test_msmtp_leaving_xoauth2_loses_the_refresher_and_its_secrets(lab, configure, clean_msmtp, oauth_cred,
                                                                   basic_cred, base_vars):
    oauth = dict(base_vars, smtp_configure_credential=oauth_cred, smtp_configure_apps=[{"preset": "msmtp"}])
    first = configure.run(MSMTP_HOST, oauth)
    assert first.rc == 0, first.output[-3000:]
    assert all(sha256s(lab, MSMTP_HOST, REFRESHER_FILES).values())

    basic = dict(base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "msmtp"}])
    run = configure.run(MSMTP_HOST, basic, "-v")
    assert run.rc == 0, run.output[-3000:]
    res = run.result(REMOVE_TASK, MSMTP_HOST)
    assert res["changed"] is True and sorted(res["removed"]) == sorted(REFRESHER_FILES), res
    assert sha256s(lab, MSMTP_HOST, REFRESHER_FILES) == {p: None for p in REFRESHER_FILES}
    assert oauth_cred["client_secret"] not in run.output and basic_cred["password"] not in run.output
    rc = lab.host_run(MSMTP_HOST, ["cat", "/etc/msmtprc"]).stdout
    assert "passwordeval" not in rc and "auth login" in rc
