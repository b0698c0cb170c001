# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.migrate end to end on a mixed fleet of 5 hosts (issue 21, §4 first bullet).

The fleet starts on basic auth (one configure run with the password credential from OpenBao): msmtp, Postfix,
Django, Laravel, Spring and Grafana spread over host1..host5. Basic auth is then switched off for the mailbox
at the Microsoft 365 stand-in, and one migrate run (a canary, then two batches of two) moves every application
to the oauth2 credential: msmtp to XOAUTH2, the others through a relay on their own host (which takes a
host's Postfix over). Each application's proof is the very message the stand-in recorded, logged in with
XOAUTH2 by the oauth2 app from that host. A rerun plans nothing, changes no file and sends no message.

Every host is put back as the lab made it afterwards (Postfix files, no relay, no app file, empty queue), and
the stand-in's mailbox gets basic auth back.
"""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import MOUNT, Migration

ROOT = "/srv/migrate-fleet"
# Where each app's file is (Postfix: its directory; the others: one file each).
APP_FILES = {"msmtp": "/etc/msmtprc", "grafana": "/etc/grafana/grafana.ini", "django": ROOT + "/django/mail_settings.py",
             "laravel": ROOT + "/laravel/.env", "spring": ROOT + "/spring/application.properties"}


def app(preset: str) -> dict:
    a = {"preset": preset}
    if preset in ("django", "laravel", "spring"):
        a["path"] = APP_FILES[preset]
    if preset in ("grafana", "django", "laravel", "spring"):
        # These read only the system trust store: the lab CA is not given to them (as in the presets tests).
        a["smtp"] = {"ca_path": None}
    return a


# host1 is the canary (the first host with something to move); serial 2 makes two batches of the other four.
# The apps without OAuth are on two hosts: each runs a relay of its own, and the relays share the oauth2
# credential's mailbox, whose budget (smtp_relay_mailbox_connections, 2 by default) is one connection each.
FLEET = {"host1": ["postfix", "msmtp", "django"], "host2": ["laravel", "spring", "grafana"], "host3": ["msmtp"],
         "host4": ["msmtp"], "host5": ["msmtp"]}
RELAY_HOSTS = ("host1", "host2")
# Postfix is taken over by its host's relay, msmtp logs in itself, the others go through their host's relay.
EXPECTED_TO = {"postfix": "via_relay", "msmtp": "xoauth2", "django": "via_relay", "laravel": "via_relay",
               "spring": "via_relay", "grafana": "via_relay"}
EXPECTED_KIND = {"postfix": "app_command", "msmtp": "app_command", "django": "smtp_client",
                 "laravel": "smtp_client", "spring": "smtp_client", "grafana": "smtp_client"}
CONFIG_FILES = ["/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/postfix/sasl_passwd",
                "/etc/postfix/sasl_passwd.db", "/etc/mailops-smtp/relay.oauth.json",
                "/etc/mailops-smtp/relay-msmtprc", "/etc/mailops-smtp/mailops.oauth.json", *APP_FILES.values()]
STATE_DIR = "/var/lib/mailops-smtp/migrate"
CLEAN = (f"rm -rf /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db /etc/postfix/.mailops-smtp-tmp-* "
         f"/etc/msmtprc /etc/.mailops-smtp-tmp-* /etc/grafana {ROOT} /etc/mailops-smtp /var/lib/mailops-smtp "
         "/usr/local/lib/mailops-smtp /etc/cron.d/mailops-smtp-*; postsuper -d ALL >/dev/null 2>&1; "
         "postfix stop >/dev/null 2>&1; postfix start >/dev/null 2>&1; true")


def reset(lab, mains: dict) -> None:
    for h, files in mains.items():
        for path, text in files.items():
            lab.host_run(h, ["sh", "-c", f"cat > {path}"], input=text)
        lab.host_run(h, ["sh", "-c", CLEAN])


def hashes(mig) -> dict:
    from tests.integration.configure.conftest import sha256s
    return {h: sha256s(mig.lab, h, CONFIG_FILES) for h in mig.hosts}


def by_message_id(messages: list, message_id: str) -> list:
    return [m for m in messages
            if any(k.lower() == "message-id" and v.strip() == message_id for k, v in m["headers"])]


@pytest.fixture(scope="module")
def fleet(lab, standins, tmp_path_factory):
    hosts = sorted(FLEET)
    assert [h["name"] for h in lab.hosts[:5]] == hosts, "this test needs a lab of 5 hosts (make lab-up HOSTS=5)"
    scratch = tmp_path_factory.mktemp("migrate-fleet")
    tag = uuid.uuid4().hex[:10]
    apps = {h: [app(p) for p in presets] for h, presets in FLEET.items()}
    mig = Migration(lab, standins, scratch, hosts, f"smtp/fleet-basic-{tag}", f"smtp/fleet-oauth-{tag}", apps=apps)
    mig.secrets += [standins.password, standins.app.secret]
    mains = {h: {p: lab.host_run(h, ["cat", p]).stdout for p in ("/etc/postfix/main.cf", "/etc/postfix/master.cf")}
             for h in hosts}
    reset(lab, mains)
    for h, presets in FLEET.items():
        for p in presets:
            if p in ("django", "laravel", "spring", "grafana"):
                lab.host_run(h, ["sh", "-c", 'mkdir -p "$(dirname "$1")" && touch "$1"', "-", APP_FILES[p]])
    mig.store_credentials()
    try:
        configured = mig.run(playbook="mailops.smtp.configure")
        assert configured.rc == 0, configured.output[-4000:]
        standins.control.set_mailbox(standins.mailbox, basic_auth_retired=True)
        yield mig, apps
    finally:
        standins.control.set_mailbox(standins.mailbox, basic_auth_retired=False)
        reset(lab, mains)
        mig.forget_credentials()


def migrate(mig: Migration, apps: dict):
    return mig.run(smtp_migrate_serial=2, smtp_migrate_relay="auto",
                   smtp_migrate_state_dir=STATE_DIR)


def test_migrate_moves_a_mixed_fleet_proves_each_app_and_a_rerun_changes_nothing(fleet, lab, standins):
    mig, apps = fleet
    before_hashes = hashes(mig)
    for h, presets in FLEET.items():
        assert before_hashes[h][APP_FILES["msmtp"]] is not None or "msmtp" not in presets
    seen_before = len(standins.control.messages())

    run = migrate(mig, apps)
    assert run.rc == 0, run.output[-6000:]
    # A canary, then the batches of serial 2 ([host1, already moved, and host2], [host3, host4], [host5]).
    assert run.output.count("TASK [Move the canary (save") == 1, run.output[-6000:]
    assert run.output.count("TASK [Move this host (save") >= 2, run.output[-6000:]
    report = mig.report()
    assert report["state"] == "done" and report["message"] is None, json.dumps(report)[-3000:]
    assert report["check_mode"] is False
    hosts = {h["host"]: h for h in report["hosts"]}
    assert sorted(hosts) == sorted(FLEET)
    assert {h: e["status"] for h, e in hosts.items()} == {h: "moved" for h in FLEET}

    messages = standins.control.messages()[seen_before:]
    mail_from_ip = {h: lab.host(h)["ip"] for h in FLEET}
    for h, presets in FLEET.items():
        entry = hosts[h]
        assert [a["preset"] for a in entry["apps"]] == presets, entry
        for a in entry["apps"]:
            p = a["preset"]
            what = f"{h}/{p}: {json.dumps(a)}"
            # The plan, the before and after side by side, the proof.
            assert (a["before"], a["planned"], a["blocked"]) == ("basic", EXPECTED_TO[p], None), what
            assert a["after"] in ("xoauth2", "via_relay"), what
            assert a["holds_password"] is False, what
            assert (a["proof_kind"], a["proof_accepted"]) == (EXPECTED_KIND[p], True), what
            # The stand-in recorded that very message: an XOAUTH2 login by the oauth2 app, from this host.
            got = by_message_id(messages, a["proof_message_id"])
            assert len(got) == 1, what
            m = got[0]
            assert (m["auth_mechanism"], m["auth_identity"], m["auth_app"]) == (
                "XOAUTH2", standins.mailbox, standins.app.client_id.lower()), what
            assert m["peer"][0] == mail_from_ip[h], what
        # A host with an app without OAuth runs a relay of its own (its Postfix taken over), the others none.
        if h in RELAY_HOSTS:
            assert entry["relay"] == {"smtp_relay_upstream": "xoauth2", "smtp_relay_listen": "loopback",
                                      "smtp_relay_mailbox_relays": 2}, entry
        else:
            assert entry["relay"] is None, entry
        if "postfix" in presets:
            assert all(c["preset"] != "postfix" for c in entry["configure_apps"]), entry
    # Each message the run sent is one of the proofs: nothing else was sent.
    proof_ids = {a["proof_message_id"] for e in hosts.values() for a in e["apps"]}
    assert len(messages) == len(proof_ids) == sum(len(p) for p in FLEET.values())
    assert report["password_files"] == []
    assert report["retirable_credentials"] == [f"{MOUNT}/{mig.basic_path}"]

    # The after fleet report says ready; the before one did not.
    report_dir = mig.scratch / "report"
    after = json.loads((report_dir / "after" / "report.json").read_text())
    before = json.loads((report_dir / "before" / "report.json").read_text())
    assert after["title"] == "SMTP submission readiness, after the migration"
    assert after["summary"]["headline"] == "5 of 5 hosts ready; 0 blocked", after["summary"]
    assert all(h["readiness"]["ready"] for h in after["hosts"])
    assert before["summary"]["hosts_ready"] == 0, before["summary"]
    md = (report_dir / "migration.md").read_text()
    assert "| host1 | moved | msmtp (default path) | basic | xoauth2 | xoauth2 | app_command | yes | no |" in md, md
    # No lock left, no saved copy of the old files left on any host, and every file changed.
    assert mig.lock(mig.basic_path)["state"] == "released" and mig.lock(mig.oauth_path)["state"] == "released"
    for h in FLEET:
        assert lab.host_run(h, ["sh", "-c", f"test -e {STATE_DIR} && ls -A {STATE_DIR} || true"]).stdout == "", h
    moved_hashes = hashes(mig)
    for h in FLEET:
        assert moved_hashes[h] != before_hashes[h], h

    # The rerun: nothing to move, no file changed, no message sent.
    seen = len(standins.control.messages())
    rerun = migrate(mig, apps)
    assert rerun.rc == 0, rerun.output[-6000:]
    again = mig.report()
    assert again["state"] == "done" and again["message"] is None, json.dumps(again)[-3000:]
    assert {h["host"]: h["status"] for h in again["hosts"]} == {h: "unchanged" for h in FLEET}
    assert all(a["planned"] == "unchanged" for h in again["hosts"] for a in h["apps"]), again["plan_table"]
    assert "canary: none: no host has anything to move" in rerun.output
    assert hashes(mig) == moved_hashes
    assert len(standins.control.messages()) == seen
    assert again["password_files"] == []
