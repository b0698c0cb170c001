# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the move of one host (plugin_utils/_migrate_move.py, roles/smtp_migrate/tasks/move.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.mailops.smtp.plugins.filter import migrate_move_files as f
from ansible_collections.mailops.smtp.plugins.plugin_utils import _migrate_move as m

REPO = Path(__file__).resolve().parents[4]


def role_defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())


def role_vars(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text())


@pytest.fixture
def configure():
    return m.effective(m.CONFIGURE_KEYS, role_defaults("smtp_configure"), {"smtp_configure_endpoint": "m365"})


@pytest.fixture
def relay():
    return m.effective(m.RELAY_KEYS, role_defaults("smtp_relay"), {}, {"smtp_relay_upstream": "xoauth2"})


OLD = [{"name": "postfix", "preset": "postfix"}, {"name": "msmtp", "preset": "msmtp"},
       {"name": "grafana", "preset": "grafana", "path": "/srv/g/grafana.ini", "reload_command": "touch /r"}]
PLAN = {"host": "web1", "changes": True,
        "configure_apps": [{"name": "msmtp", "preset": "msmtp"},
                           {"name": "grafana", "preset": "grafana", "path": "/srv/g/grafana.ini",
                            "reload_command": "touch /r", "options": {"mode": "via_relay"}}],
        "relay": {"smtp_relay_upstream": "xoauth2"}}


def test_settings_come_from_the_plan_then_the_host_then_the_role_defaults():
    defaults = role_defaults("smtp_relay")
    got = m.effective(m.RELAY_KEYS, defaults, {"smtp_relay_config_dir": "/host/etc"},
                      {"smtp_relay_token_file": "/plan/relay.token"})
    assert got["smtp_relay_config_dir"] == "/host/etc"
    assert got["smtp_relay_token_file"] == "/plan/relay.token"
    assert got["smtp_relay_postfix_dir"] == defaults["smtp_relay_postfix_dir"] == "/etc/postfix"
    with pytest.raises(m.MoveError, match="smtp_relay_lib_dir"):
        m.effective(m.RELAY_KEYS, {k: v for k, v in defaults.items() if k != "smtp_relay_lib_dir"}, {})


def test_every_key_the_move_reads_is_a_default_of_its_role():
    assert set(m.CONFIGURE_KEYS) <= set(role_defaults("smtp_configure"))
    assert set(m.RELAY_KEYS) <= set(role_defaults("smtp_relay"))


def test_the_trees_hold_the_files_the_roles_name_only_in_their_vars():
    # relay.oauth.json and relay-ca.pem are named in the relay's vars/main.yml, not its defaults: the move
    # saves them as part of the tree smtp_relay_config_dir, which holds them.
    rv = role_vars("smtp_relay")
    for key in ("smtp_relay__refresher_config", "smtp_relay__ca_copy"):
        assert rv[key].startswith("{{ smtp_relay_config_dir }}/"), key
    cv = role_vars("smtp_configure")
    assert cv["smtp_configure__config_file"].strip().startswith("{{ smtp_configure_refresher_config_dir }}/")


def test_the_files_of_a_move_to_xoauth2_and_a_relay(configure, relay):
    got = m.move_files(PLAN, OLD, configure, relay)
    files = set(got["files"])
    postfix = {"/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/postfix/sasl_passwd",
               "/etc/postfix/sasl_passwd.db", "/etc/postfix/sasl_passwd.lmdb", "/etc/postfix/sasl_passwd.cdb"}
    msmtp = {"/etc/msmtprc", "/etc/msmtprc.ca-bundle.pem", "/var/lib/mailops-smtp/mailops.token",
             "/var/lib/mailops-smtp/mailops.token.json", "/etc/cron.d/mailops-smtp-token-mailops",
             "/etc/systemd/system/mailops-smtp-token-mailops.service",
             "/etc/systemd/system/mailops-smtp-token-mailops.timer",
             "/etc/systemd/system/timers.target.wants/mailops-smtp-token-mailops.timer"}
    the_relay = {"/etc/mailops-smtp/relay-msmtprc", "/var/lib/mailops-smtp/relay.token",
                 "/var/lib/mailops-smtp/relay.token.json", "/etc/cron.d/mailops-smtp-relay-token"}
    assert files == postfix | msmtp | the_relay | {"/srv/g/grafana.ini"}
    assert len(got["files"]) == len(files), "each path once"
    assert got["trees"] == ["/etc/mailops-smtp", "/usr/local/lib/mailops-smtp"]


def test_no_relay_no_relay_files(configure):
    got = m.move_files(dict(PLAN, relay=None), [], configure)
    assert not any("relay" in p for p in got["files"])
    with pytest.raises(m.MoveError, match="relay's settings"):
        m.move_files(PLAN, [], configure, None)


def test_other_formats_bring_their_sidecar_and_bundle(configure):
    apps = [{"format": "json", "path": "/srv/app/mail.json", "keys": {"host": "host"}},
            {"preset": "gitlab"}, {"preset": "postfix", "path": "/etc/postfix-out"}]
    files = m.move_files({"configure_apps": apps}, [], configure)["files"]
    assert "/srv/app/mail.json.mailops-smtp.json" in files
    assert "/etc/gitlab/gitlab.rb.ca-bundle.pem" in files
    assert "/etc/postfix-out/sasl_passwd.db" in files
    with pytest.raises(m.MoveError, match="give its path"):
        m.move_files({"configure_apps": [{"preset": "django", "name": "d"}]}, [], configure)


def test_proof_apps_are_what_the_proof_module_takes(configure):
    apps = m.proof_apps(PLAN["configure_apps"] + [{"preset": "postfix"}],
                        dict(configure, smtp_configure_ca_path="/ca.pem"))
    assert apps == [
        {"name": "msmtp", "preset": "msmtp", "path": "/etc/msmtprc",
         "options": {"token_file": "/var/lib/mailops-smtp/mailops.token"}},
        {"name": "grafana", "preset": "grafana", "path": "/srv/g/grafana.ini", "options": {"mode": "via_relay"}},
        {"name": "postfix (default path)", "preset": "postfix", "path": "/etc/postfix", "options": {}}]


PROOFS = {"proofs": [
    {"name": "msmtp", "kind": "app_command", "accepted": True, "reply": "250 2.0.0 OK", "path": "xoauth2"},
    {"name": "grafana", "kind": "relay_log", "accepted": False, "reply": None, "path": "via_relay",
     "diagnosis": "smtp_auth_disabled"},
    {"name": "django", "kind": "smtp_client", "accepted": False, "reply": "535 5.7.139 Authentication unsuccessful",
     "path": "via_relay", "diagnosis": "smtp_auth_disabled",
     "message": "django: the relay's upstream did not take the message (deferred): SMTP AUTH is disabled"}]}


def test_proof_failures_name_each_app_not_proven():
    apps = [{"name": "msmtp"}, {"name": "grafana"}, {"name": "django"}, {"name": "other"}]
    assert m.proof_failures(apps, PROOFS) == [
        "grafana: smtp_auth_disabled [relay_log proof, path via_relay]",
        "django: the relay's upstream did not take the message (deferred): SMTP AUTH is disabled [smtp_client proof, "
        "path via_relay] (the reply: 535 5.7.139 Authentication unsuccessful)",
        "other: no proof was made"]
    assert m.proof_failures(apps[:1], PROOFS) == []
    assert m.proof_failures(apps[:1], None) == ["msmtp: no proof was made"]


def test_outcome_moved():
    out = f.migrate_move_outcome([{"name": "msmtp"}], PROOFS)
    assert out == {"status": "moved", "restored_files": [], "message": None,
                   "apps": [{"name": "msmtp", "proof": PROOFS["proofs"][0]}]}


def test_outcome_restored_with_its_files_and_the_reason():
    restore = {"changed": True, "differed": ["/etc/msmtprc", "/srv/g/grafana.ini"]}
    out = f.migrate_move_outcome([{"name": "grafana"}], PROOFS, restore, "Stop when ...: refused", "web1",
                                 [{"skipped": True}, {"results": [{"changed": True}]}])
    assert out["status"] == "restored" and out["restored_files"] == restore["differed"]
    assert out["apps"] == [{"name": "grafana", "proof": PROOFS["proofs"][1]}]
    assert out["message"] == ("web1: the move failed, so its previous files were put back exactly (2 restored) and "
                              "its applications reloaded. Why it failed: Stop when ...: refused")


def test_outcome_counts_failed_reloads():
    out = m.restored([], None, {"differed": ["/x"]}, "why", "web1",
                     [{"results": [{"failed": True}, {"failed": False}]}, {"failed": True, "rc": 1}])
    assert out["status"] == "restored" and "2 reload(s) failed" in out["message"]


def test_outcome_restore_failed_and_nothing_saved():
    out = m.restored([{"name": "a"}], None, {"failed": True, "msg": "cannot put /etc/msmtprc back: EROFS"}, "why")
    assert out["status"] == "restore_failed" and "EROFS" in out["message"] and "half moved" in out["message"]
    for restore in (None, {"skipped": True}):
        out = m.restored([], None, restore, "Save every file...: cannot read /etc/x")
        assert out["status"] == "restored" and out["restored_files"] == []
        assert "before any file was changed" in out["message"]


def test_reloads_after_a_restore(configure, relay):
    saved = {"files": [{"path": "/etc/systemd/system/mailops-smtp-token-mailops.timer", "kind": "absent"},
                       {"path": "/etc/msmtprc", "kind": "file"}]}
    restored = ["/srv/g/grafana.ini", "/etc/postfix/main.cf",
                "/etc/systemd/system/mailops-smtp-token-mailops.timer"]
    proof = {"proofs": [{"name": "grafana", "accepted": False, "relay_queue_id": "0E9371823AA"},
                        {"name": "django", "accepted": True, "relay_queue_id": "16D7E1826E9"}]}
    owed = m.restore_reloads(OLD, PLAN["configure_apps"], restored, saved, configure, relay, proof)
    assert owed["reloads"] == [
        {"name": "postfix", "service": None, "service_state": "restarted", "command": "postfix reload"},
        {"name": "grafana", "service": None, "service_state": "restarted", "command": "touch /r"}]
    assert owed["relay_restart"] == "/etc/postfix"
    assert owed["stop_timers"] == ["mailops-smtp-token-mailops.timer"]
    assert owed["drop_queued"] == ["0E9371823AA"], "only the undelivered proof, and only from a relay of this host"
    nothing = m.restore_reloads(OLD, [], ["/etc/msmtprc"], saved, configure, None, proof)
    assert nothing == {"reloads": [], "relay_restart": None, "stop_timers": [], "drop_queued": []}


def test_the_settings_filter_refuses_an_unknown_role():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="configure, relay"):
        f.migrate_move_settings({}, {}, "rotate")
    with pytest.raises(AnsibleFilterError, match="is the collection complete"):
        f.FilterModule().filters()["migrate_move_settings"]({}, {}, "relay")


def test_a_host_that_no_longer_answers_for_the_restore_was_lost_not_restored():
    unreachable = {"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}
    out = f.migrate_move_outcome([{"name": "msmtp"}], None, unreachable, "Stop when ...: no proof was made", "web3",
                                 [], "/var/lib/mailops-smtp/migrate/r1")
    assert out["status"] is None and out["unreachable"] is True and out["failed"] is True
    assert out["restored_files"] == [] and out["apps"] == [{"name": "msmtp", "proof": None}]
    assert out["message"].startswith("web3: lost during its move (it stopped answering: Stop when ...: no proof")
    assert "were not put back" in out["message"] and "/var/lib/mailops-smtp/migrate/r1" in out["message"]
    assert ("ansible web3 -b -m mailops.smtp.file_snapshot -a 'path=/var/lib/mailops-smtp/migrate/r1 "
            "state=restored'") in out["message"]


def test_after_a_failed_move_the_rescue_keeps_the_move_s_outcome_or_tells_lost_from_failed():
    restored = {"status": "restored", "message": "put back"}
    lost = m.lost([], None, "why", "web3", "/s/r1")
    for kept in (restored, {"status": "restore_failed"}, lost):
        assert f.FilterModule().filters()["migrate_move_failed"](kept, {"unreachable": True}, "x") is kept
    down = m.failed_move(None, {"unreachable": True, "msg": "ssh: reset"}, "Move: unreachable", "web3", "/s/r1")
    assert down["unreachable"] is True and "lost during its move" in down["message"] and "/s/r1" in down["message"]
    up = m.failed_move(None, {"ping": "pong"}, "Save every file...: EROFS", "web3", "/s/r1")
    assert up == {"status": None, "unreachable": False, "failed": True, "message": "Save every file...: EROFS"}


def test_a_saved_copy_of_an_earlier_run_refuses_the_move_and_says_how_to_put_it_back():
    found = {"files": [{"path": "/var/lib/mailops-smtp/migrate/old2"}, {"path": "/var/lib/mailops-smtp/migrate/now"},
                       {"path": "/var/lib/mailops-smtp/migrate/old1"}]}
    out = f.FilterModule().filters()["migrate_move_interrupted"](found, "web2", "now")
    assert out["copies"] == ["/var/lib/mailops-smtp/migrate/old1", "/var/lib/mailops-smtp/migrate/old2"]
    assert out["message"].startswith("web2 was lost during an earlier move, which left its previous files saved in "
                                     "/var/lib/mailops-smtp/migrate/old1, /var/lib/mailops-smtp/migrate/old2")
    assert "Nothing was changed" in out["message"] and out["message"].count("state=restored") == 2
    # Its own copy, no copy, or a host lost before find could run: nothing to refuse.
    for found in ({"files": [{"path": "/var/lib/mailops-smtp/migrate/now"}]}, {"files": []}, {"unreachable": True},
                  None):
        assert m.interrupted_copies(found, "web2", "now") == {"copies": [], "message": None}


COPY = "/var/lib/mailops-smtp/migrate/r1"


def test_a_host_lost_after_its_proofs_stays_moved_and_names_the_copy_it_could_not_delete():
    proven = m.moved([{"name": "msmtp"}], {"proofs": [{"name": "msmtp", "accepted": True}]})
    unreachable = {"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}
    out = f.FilterModule().filters()["migrate_move_copy_left"](proven, unreachable, "web3", COPY)
    assert out["status"] == "moved" and out["apps"] == proven["apps"]
    assert out["saved_copies"] == [COPY] and out["lost_after_move"] is True
    assert out["message"].startswith("web3: moved and proven, but the saved copy of its previous files (they hold "
                                     "the old passwords) is left in " + COPY), out["message"]
    assert "it stopped answering before the copy could be deleted" in out["message"]
    assert f"Once the host answers, delete it (ansible web3 -b -m mailops.smtp.file_snapshot -a 'path={COPY} " \
           "state=absent')" in out["message"]
    # Nothing to put back: its apps were proven on the new way.
    assert "state=restored" not in out["message"]


def test_a_copy_that_failed_to_delete_is_named_with_the_modules_reason_not_as_lost():
    restored = {"status": "restored", "apps": [], "restored_files": ["/etc/msmtprc"], "message": "web3: put back."}
    out = m.copy_left(restored, {"failed": True, "msg": "EROFS"}, "web3", COPY)
    assert out["status"] == "restored" and out["lost_after_move"] is False
    assert out["message"].startswith("web3: put back; and the saved copy") and "deleting the copy failed: EROFS" \
        in out["message"], out["message"]


def test_a_deleted_copy_or_a_lost_host_leaves_the_outcome_as_it_was():
    proven = m.moved([], None)
    for deleted in ({"changed": True}, {"skipped": True}, None):
        assert m.copy_left(proven, deleted, "web3", COPY) is proven
    # A host lost during its move says so itself (lost() names the copy and how to put it back).
    lost = m.lost([], None, "why", "web3", COPY)
    assert m.copy_left(lost, {"unreachable": True}, "web3", COPY) is lost


def test_a_host_with_nothing_to_move_names_a_copy_an_earlier_move_left():
    found = {"files": [{"path": COPY}, {"path": "/var/lib/mailops-smtp/migrate/now"}]}
    out = f.FilterModule().filters()["migrate_move_unchanged"](found, "web2", "now")
    assert out["status"] == "unchanged" and out["saved_copies"] == [COPY] and out["lost_after_move"] is True
    assert out["message"].startswith(f"web2: nothing to move, but an earlier move that lost this host left the saved "
                                     f"copy of its previous files (they hold the old passwords) in {COPY}.")
    assert f"-a 'path={COPY} state=absent'" in out["message"] and f"-a 'path={COPY} state=restored'" in out["message"]
    for found in ({"files": [{"path": "/var/lib/mailops-smtp/migrate/now"}]}, {"files": []}, {"unreachable": True}):
        assert m.unchanged(found, "web2", "now") == {"status": "unchanged", "apps": [], "restored_files": [],
                                                     "message": None}


def test_two_relayed_proofs_not_delivered_are_both_dropped_while_the_relay_is_stopped(configure, relay):
    # Grafana and Spring through the relay of this host, neither delivered (one deferred, one with no delivery
    # attempt in time): both queue ids are dropped.
    proof = {"proofs": [{"name": "grafana", "accepted": False, "relay_queue_id": "0E9371823AA"},
                        {"name": "spring", "accepted": False, "relay_queue_id": "16D7E1826E9"}]}
    owed = m.restore_reloads(OLD, PLAN["configure_apps"], ["/etc/postfix/main.cf"], {"files": []}, configure, relay,
                             proof)
    assert owed["drop_queued"] == ["0E9371823AA", "16D7E1826E9"] and owed["relay_restart"] == "/etc/postfix"
    # postsuper looks in the active queue before the deferred one: while Postfix runs, a deferred proof moved
    # back to active for its retry between the two looks is missed. The drop runs after the stop, before the
    # start.
    steps = [t["name"] for t in yaml.safe_load((REPO / "roles/smtp_migrate/tasks/move_restore.yml").read_text())]
    stop, drop, start = (steps.index(n) for n in ("Stop the relay's Postfix, whose files came back",
                                                  "Drop the proof messages the relay took and did not deliver",
                                                  "Start the relay's Postfix again"))
    assert stop < drop < start, steps


def test_a_failed_command_s_reason_is_the_last_line_it_wrote_to_stderr():
    result = {"failed": True, "msg": "non-zero return code", "rc": 1,
              "stderr_lines": ["retrying", "error: token endpoint login.lab not reachable (timed out)", ""]}
    assert m.failure_reason("Get a token now", result) == (
        "Get a token now: non-zero return code (error: token endpoint login.lab not reachable (timed out))")
    assert m.failure_reason("Write", {"msg": "read-only"}) == "Write: read-only"
    assert m.failure_reason(None, None) == "a step of the move: failed (no message)"
    assert m.failure_reason("?", {}, "failed") == "?: failed"
