# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secret files left behind by a change of mode: what is removed, what is kept and why (issue 16, item 6).

Every file lives under tmp_path: no test reads or removes anything of the machine's own.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from ansible_collections.mailops.smtp.plugins.module_utils import _leftovers, _marker
from ansible_collections.mailops.smtp.plugins.modules import leftover_secrets

REPO = Path(__file__).resolve().parents[4]
SECRET = "Old-pw-7d1e!"
CLIENT_SECRET = "client-secret-4b2a"
MARKER = "# managed by mailops.smtp: credential secret/smtp/o365-mailer version 4\n"


def no_commands(argv):
    raise AssertionError("no command expected, got %r" % (argv,))


def run_items(items, tmp_path, check=False, run=no_commands, systemd_root=None):
    return _leftovers.execute(items, run, check_mode=check, want_diff=True, cron_dir=str(tmp_path / "cron.d"),
                              systemd_dir=str(tmp_path / "systemd"),
                              systemd_root=str(systemd_root or tmp_path / "no-systemd"))


# ---- Postfix in connector mode: the SASL map ------------------------------------------------------

@pytest.fixture
def postfix(tmp_path):
    d = tmp_path / "postfix"
    d.mkdir()
    (d / "main.cf").write_text("relayhost = [contoso-com.mail.protection.outlook.com]:25\nsmtp_sasl_auth_enable = no\n")
    return d


def write_map(d, body=None, marker=MARKER):
    (d / "sasl_passwd").write_text(marker + (body or "[smtp.office365.com]:587 svc@contoso.com:%s\n" % SECRET))
    (d / "sasl_passwd.db").write_bytes(b"\x00compiled " + SECRET.encode())


def test_a_marked_map_and_its_compiled_map_are_removed_compiled_first(postfix, tmp_path):
    write_map(postfix)
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path)
    assert r["changed"] is True
    assert r["removed"] == [str(postfix / "sasl_passwd.db"), str(postfix / "sasl_passwd")]
    assert not (postfix / "sasl_passwd").exists() and not (postfix / "sasl_passwd.db").exists()
    assert (postfix / "main.cf").exists()
    assert {(f["credential"], f["version"], f["secret"]) for f in r["files"]} == {("secret/smtp/o365-mailer", "4", True)}
    assert r["kept"] == []


def test_check_mode_says_what_it_would_remove_and_the_diff_holds_no_secret(postfix, tmp_path):
    write_map(postfix)
    before = {p.name: p.read_bytes() for p in postfix.iterdir()}
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path, check=True)
    assert r["changed"] is True and len(r["removed"]) == 2
    assert {p.name: p.read_bytes() for p in postfix.iterdir()} == before
    assert [d["before_header"] for d in r["diff"]] == r["removed"]
    assert all(d["after"] == "" and "content not shown" in d["before"] for d in r["diff"])
    assert "secret/smtp/o365-mailer version 4" in r["diff"][1]["before"]
    assert SECRET not in json.dumps(r)


def test_a_map_without_our_marker_is_kept_with_the_reason(postfix, tmp_path):
    write_map(postfix, marker="# my own relay\n")
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path)
    assert r["changed"] is False and r["removed"] == []
    assert (postfix / "sasl_passwd").exists() and (postfix / "sasl_passwd.db").exists()
    assert [k["path"] for k in r["kept"]] == [str(postfix / "sasl_passwd"), str(postfix / "sasl_passwd.db")]
    assert all("not written by mailops.smtp" in k["reason"] for k in r["kept"])
    assert r["warnings"] == []   # not ours: nothing to warn about


def test_a_marked_map_that_also_holds_the_operators_entries_is_kept_with_a_warning(postfix, tmp_path):
    write_map(postfix, body="[smtp.office365.com]:587 svc@contoso.com:%s\n[relay.example.net]:25 me:mine\n" % SECRET)
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path)
    assert r["removed"] == [] and (postfix / "sasl_passwd").exists()
    assert "holds 2 entries" in r["kept"][0]["reason"]
    assert len(r["warnings"]) == 1 and SECRET not in r["warnings"][0] and "mine" not in r["warnings"][0]


@pytest.mark.parametrize("where, text", [
    ("main.cf", "lmtp_sasl_password_maps = hash:{map}\n"),
    ("main.cf", "smtp_sasl_auth_enable = no\nsmtpd_x_maps =\n    hash:$config_directory/sasl_passwd\n"),
    ("master.cf", "relay2 unix - - n - - smtp\n  -o smtp_sasl_password_maps=hash:{map}\n"),
])
def test_a_map_another_parameter_still_names_is_kept(postfix, tmp_path, where, text):
    write_map(postfix)
    with open(postfix / where, "a") as f:
        f.write(text.format(map=postfix / "sasl_passwd"))
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path)
    assert r["removed"] == [] and (postfix / "sasl_passwd").exists()
    assert "still named by" in r["kept"][0]["reason"] and where in r["kept"][0]["reason"]


def test_the_parameter_connector_mode_deletes_does_not_keep_the_map(postfix, tmp_path):
    """In check mode main.cf is not yet rewritten: its smtp_sasl_password_maps is about to go."""
    write_map(postfix)
    with open(postfix / "main.cf", "a") as f:
        f.write("smtp_sasl_password_maps = hash:%s\n" % (postfix / "sasl_passwd"))
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path, check=True)
    assert len(r["removed"]) == 2


def test_a_compiled_map_without_its_source_is_kept(postfix, tmp_path):
    (postfix / "sasl_passwd.lmdb").write_bytes(b"x")
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path)
    assert r["removed"] == [] and "source" in r["kept"][0]["reason"]


def test_nothing_there_changes_nothing(postfix, tmp_path):
    r = run_items([{"kind": "postfix_sasl_map", "path": str(postfix)},
                   {"kind": "xoauth2_refresher", "account": "mailops", "path": str(tmp_path / "none")}], tmp_path)
    assert r == {"changed": False, "removed": [], "files": [], "kept": [], "warnings": [], "diff": []}


def test_a_map_that_is_not_a_regular_file_fails_and_says_what_to_do(postfix, tmp_path):
    (postfix / "sasl_passwd").mkdir()
    with pytest.raises(_leftovers.LeftoverError, match="not a regular file"):
        run_items([{"kind": "postfix_sasl_map", "path": str(postfix)}], tmp_path)


# ---- msmtp without XOAUTH2: the token refresher ------------------------------------------------------

def refresher_argv(tmp_path, account="mailops", token=None):
    token = token or str(tmp_path / "lib" / ("%s.token" % account))
    return ["/usr/bin/python3", "/usr/local/lib/mailops-smtp/refresh-token",
            "--config", str(tmp_path / "etc" / ("%s.oauth.json" % account)), "--token-file", token,
            "--profile", "m365", "--min-validity", "900"]


def install_refresher(tmp_path, account="mailops", token=None, systemd=False):
    """The files smtp_configure's refresher.yml leaves, as it writes them."""
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    etc.mkdir(exist_ok=True)
    lib.mkdir(exist_ok=True)
    cfg = etc / ("%s.oauth.json" % account)
    cfg.write_text(json.dumps({"client_secret": CLIENT_SECRET, "tenant_id": "t", "client_id": "c"}))
    Path(str(cfg) + _marker.SIDECAR_SUFFIX).write_text(_marker.sidecar_content(
        {"vault": {"mount": "secret", "path": "smtp/app", "version": 3}}))
    argv = refresher_argv(tmp_path, account, token)
    tok = Path(argv[5])
    tok.parent.mkdir(parents=True, exist_ok=True)
    tok.write_text("eyJ-token")
    Path(str(tok) + ".json").write_text(json.dumps({"expires_at": 1, "renewed_at": 0}) + "\n")
    command = " ".join(shlex.quote(a) for a in argv)
    if systemd:
        sd = tmp_path / "systemd"
        (sd / "timers.target.wants").mkdir(parents=True, exist_ok=True)
        service, timer = _leftovers.unit_names(account)
        (sd / service).write_text("# Ansible managed\n[Unit]\nDescription=Renew the XOAUTH2 token of msmtp account "
                                  "%s (mailops.smtp)\n\n[Service]\nType=oneshot\nExecStart=%s\n" % (account, command))
        (sd / timer).write_text("[Unit]\nDescription=Renew ... %s (mailops.smtp)\n[Timer]\nOnBootSec=1min\n" % account)
        (sd / "timers.target.wants" / timer).symlink_to(sd / timer)
    else:
        (tmp_path / "cron.d").mkdir(exist_ok=True)
        (tmp_path / "cron.d" / ("mailops-smtp-token-%s" % account)).write_text(
            "#Ansible: mailops.smtp XOAUTH2 token for msmtp account %s\n*/5 * * * * root %s --quiet\n"
            % (account, command))
    return cfg, tok


def refresher_item(tmp_path, account="mailops"):
    return {"kind": "xoauth2_refresher", "account": account, "path": str(tmp_path / "etc"),
            "token_file": str(tmp_path / "lib" / ("%s.token" % account))}


def test_the_refresher_credential_token_and_cron_entry_are_removed(tmp_path):
    cfg, tok = install_refresher(tmp_path)
    r = run_items([refresher_item(tmp_path)], tmp_path)
    cron = tmp_path / "cron.d" / "mailops-smtp-token-mailops"
    assert r["removed"] == [str(cfg), str(cfg) + ".mailops-smtp.json", str(tok), str(tok) + ".json", str(cron)]
    assert not any(Path(p).exists() for p in r["removed"])
    secret = [(f["path"], f["version"]) for f in r["files"] if f["secret"]]
    assert secret == [(str(cfg), "3"), (str(tok), None)]
    assert CLIENT_SECRET not in json.dumps(r)


def test_a_token_elsewhere_is_found_through_the_cron_entry(tmp_path):
    other = str(tmp_path / "custom" / "mailops.tok")
    cfg, tok = install_refresher(tmp_path, token=other)
    Path(other + ".json").unlink()   # no expiry file: the entry alone shows the token is ours
    r = run_items([refresher_item(tmp_path)], tmp_path)
    assert other in r["removed"] and not Path(other).exists()


def install_relay_refresher(tmp_path):
    """The files smtp_relay's xoauth2.yml leaves: relay.oauth.json, the token and its own cron file."""
    cfg, tok = install_refresher(tmp_path, account="relay")
    cron = tmp_path / "cron.d"
    text = (cron / "mailops-smtp-token-relay").read_text()
    (cron / "mailops-smtp-token-relay").unlink()
    (cron / _leftovers.RELAY_CRON_FILE).write_text(
        text.replace(_leftovers.CRON_NAME % "relay", _leftovers.RELAY_CRON_NAME))
    return cfg, tok, cron / _leftovers.RELAY_CRON_FILE


def relay_item(tmp_path):
    return {"kind": "relay_refresher", "path": str(tmp_path / "etc"), "token_file": str(tmp_path / "lib" / "relay.token")}


def test_a_relay_off_xoauth2_loses_its_client_secret_token_and_cron_file(tmp_path):
    cfg, tok, cron = install_relay_refresher(tmp_path)
    dry = run_items([relay_item(tmp_path)], tmp_path, check=True)
    assert dry["removed"] == [str(cfg), str(cfg) + ".mailops-smtp.json", str(tok), str(tok) + ".json", str(cron)]
    assert cfg.exists() and cron.exists()
    r = run_items([relay_item(tmp_path)], tmp_path)
    assert r["removed"] == dry["removed"] and not any(Path(p).exists() for p in r["removed"])
    assert CLIENT_SECRET not in json.dumps(r)
    assert run_items([relay_item(tmp_path)], tmp_path)["changed"] is False


def test_a_relay_cron_file_someone_else_wrote_is_kept(tmp_path):
    cfg, tok, cron = install_relay_refresher(tmp_path)
    cron.write_text("*/5 * * * * root /usr/local/bin/my-job\n")
    r = run_items([relay_item(tmp_path)], tmp_path)
    assert str(cron) not in r["removed"] and cron.exists()
    assert [k["path"] for k in r["kept"]] == [str(cron)]
    # The credential still carries our marker, so it goes.
    assert str(cfg) in r["removed"]


def test_an_msmtp_account_named_relay_is_not_the_relays_refresher(tmp_path):
    install_refresher(tmp_path, account="relay")   # msmtp's cron file, not the relay's
    r = run_items([relay_item(tmp_path)], tmp_path)
    assert (tmp_path / "cron.d" / "mailops-smtp-token-relay").exists()
    assert not any(p.endswith("mailops-smtp-token-relay") for p in r["removed"])


def test_systemd_units_are_stopped_then_removed_then_systemd_reloads(tmp_path):
    install_refresher(tmp_path, systemd=True)
    running = tmp_path / "run-systemd"
    running.mkdir()
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "", ""

    r = run_items([refresher_item(tmp_path)], tmp_path, run=run, systemd_root=running)
    assert calls == [["systemctl", "disable", "--now", "mailops-smtp-token-mailops.timer"],
                     ["systemctl", "daemon-reload"]]
    sd = tmp_path / "systemd"
    assert str(sd / "mailops-smtp-token-mailops.timer") in r["removed"]
    assert not list(sd.glob("mailops-smtp-token-*")) and not (sd / "timers.target.wants" / "mailops-smtp-token-mailops.timer").is_symlink()


def test_a_failing_systemctl_stops_before_any_file_is_removed(tmp_path):
    cfg, _tok = install_refresher(tmp_path, systemd=True)
    running = tmp_path / "run-systemd"
    running.mkdir()
    with pytest.raises(_leftovers.LeftoverError, match="systemctl disable --now .* failed"):
        run_items([refresher_item(tmp_path)], tmp_path, run=lambda argv: (1, "", "Access denied"),
                  systemd_root=running)
    assert cfg.exists()


def test_check_mode_removes_and_stops_nothing(tmp_path):
    install_refresher(tmp_path, systemd=True)
    running = tmp_path / "run-systemd"
    running.mkdir()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    r = run_items([refresher_item(tmp_path)], tmp_path, check=True, systemd_root=running)
    assert r["changed"] is True and len(r["removed"]) == 7  # credential, token, 2 units, the link
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_files_the_refresher_did_not_write_are_kept(tmp_path):
    etc, lib, cron = tmp_path / "etc", tmp_path / "lib", tmp_path / "cron.d"
    for d in (etc, lib, cron):
        d.mkdir()
    (etc / "mailops.oauth.json").write_text("{}")                 # no sidecar marker
    (lib / "mailops.token").write_text("someone else's")        # no entry names it, no expiry file of ours
    (cron / "mailops-smtp-token-mailops").write_text("0 * * * * root /usr/local/bin/my-job\n")
    r = run_items([refresher_item(tmp_path)], tmp_path)
    assert r["removed"] == []
    kept = {Path(k["path"]).name for k in r["kept"]}
    assert kept == {"mailops.oauth.json", "mailops.token", "mailops-smtp-token-mailops"}
    assert all(p.exists() for p in (etc / "mailops.oauth.json", lib / "mailops.token"))


def test_a_run_killed_part_way_is_finished_by_the_next(tmp_path):
    """Each proof goes after what it proves: with the credential gone, the token and entry still go."""
    cfg, tok = install_refresher(tmp_path)
    cfg.unlink()
    Path(str(cfg) + ".mailops-smtp.json").unlink()
    r = run_items([refresher_item(tmp_path)], tmp_path)
    assert r["removed"] == [str(tok), str(tok) + ".json", str(tmp_path / "cron.d" / "mailops-smtp-token-mailops")]


def test_only_the_given_account_is_touched(tmp_path):
    install_refresher(tmp_path, account="mailops")
    other_cfg, other_tok = install_refresher(tmp_path, account="alerts")
    run_items([refresher_item(tmp_path, "mailops")], tmp_path)
    assert other_cfg.exists() and other_tok.exists()
    assert (tmp_path / "cron.d" / "mailops-smtp-token-alerts").exists()


# ---- which apps leave what ---------------------------------------------------------------------------

def app(kind, **kw):
    d = {"kind": kind, "connector": False, "xoauth2": False, "account": "mailops",
         "token_file": "/var/lib/mailops-smtp/mailops.token", "app": {"preset": kind}}
    d.update(kw)
    return d


def test_unused_items_follow_the_mode_of_each_app():
    apps = [app("postfix", connector=True), app("msmtp"), app("grafana"), app("postfix", app={"path": "/etc/pf2"})]
    assert _leftovers.unused_items(apps, "/etc/mailops-smtp") == [
        {"kind": "postfix_sasl_map", "path": "/etc/postfix"},
        {"kind": "xoauth2_refresher", "account": "mailops", "path": "/etc/mailops-smtp",
         "token_file": "/var/lib/mailops-smtp/mailops.token"},
    ]


def test_what_another_app_still_uses_is_not_unused():
    apps = [app("postfix", connector=True), app("postfix"),                      # same dir, one still relays
            app("msmtp", app={"path": "/etc/a"}), app("msmtp", xoauth2=True, app={"path": "/etc/b"})]
    assert _leftovers.unused_items(apps) == []
    assert _leftovers.unused_items([app("msmtp"), app("msmtp", app={"path": "/home/x/.msmtprc"})]) == [
        {"kind": "xoauth2_refresher", "account": "mailops", "path": "/etc/mailops-smtp",
         "token_file": "/var/lib/mailops-smtp/mailops.token"}]


def test_an_app_in_via_relay_mode_leaves_the_secret_files_of_its_old_way():
    via = {"mode": "via_relay"}
    # Postfix relaying through a designated relay no longer reads its SASL map; msmtp sending through
    # the relay no longer needs its refresher, even when the role still marks it xoauth2 (an oauth2 credential).
    apps = [app("postfix", options=via, app={"path": "/etc/pf"}), app("msmtp", xoauth2=True, options=via)]
    assert _leftovers.unused_items(apps, "/etc/mailops-smtp") == [
        {"kind": "postfix_sasl_map", "path": "/etc/pf"},
        {"kind": "xoauth2_refresher", "account": "mailops", "path": "/etc/mailops-smtp",
         "token_file": "/var/lib/mailops-smtp/mailops.token"},
    ]
    # Another app of the host still using them in the old way keeps them.
    apps += [app("postfix", app={"path": "/etc/pf"}), app("msmtp", xoauth2=True, app={"path": "/etc/other"})]
    assert _leftovers.unused_items(apps) == []
    # Other presets in via_relay mode kept their secret in their own file, which the preset already cleans.
    assert _leftovers.unused_items([app("grafana", options=via), app("laravel", options=via)]) == []


# ---- one fact, two places: the role writes what this module recognises ------------------------------

def test_the_role_installs_the_refresher_under_the_names_the_module_recognises():
    tasks = yaml.safe_load((REPO / "roles/smtp_configure/tasks/refresher.yml").read_text())
    cron = next(t["ansible.builtin.cron"] for t in tasks if "ansible.builtin.cron" in t)
    acc = "{{ smtp_configure__app.account }}"
    assert cron["name"] == _leftovers.CRON_NAME % acc
    assert cron["cron_file"] == _leftovers.UNIT_PREFIX + acc
    units = next(t for t in tasks if "ansible.builtin.template" in t)
    assert units["ansible.builtin.template"]["dest"] == "/etc/systemd/system/%s%s.{{ item }}" % (_leftovers.UNIT_PREFIX, acc)
    for name in ("service", "timer"):
        text = (REPO / "roles/smtp_configure/templates" / ("token-refresh.%s.j2" % name)).read_text()
        assert _leftovers.UNIT_TAG in text
    defaults = yaml.safe_load((REPO / "roles/smtp_configure/defaults/main.yml").read_text())
    assert defaults["smtp_configure_refresher_config_dir"] == _leftovers.REFRESHER_CONFIG_DIR
    script = (REPO / "roles/smtp_configure/files/refresh-token").read_text()
    assert re.search(r'return token_file \+ "%s"' % re.escape(_leftovers.TOKEN_META_SUFFIX), script)
    assert '"expires_at"' in script and '"renewed_at"' in script


def test_the_relay_role_installs_its_refresher_under_the_names_the_module_recognises():
    tasks = yaml.safe_load((REPO / "roles/smtp_relay/tasks/xoauth2.yml").read_text())
    cron = next(t["ansible.builtin.cron"] for t in tasks if "ansible.builtin.cron" in t)
    assert cron["name"] == _leftovers.RELAY_CRON_NAME
    assert cron["cron_file"] == _leftovers.RELAY_CRON_FILE
    defaults = yaml.safe_load((REPO / "roles/smtp_relay/defaults/main.yml").read_text())
    assert defaults["smtp_relay_config_dir"] == _leftovers.REFRESHER_CONFIG_DIR
    relay_vars = yaml.safe_load((REPO / "roles/smtp_relay/vars/main.yml").read_text())
    assert relay_vars["smtp_relay__refresher_config"].endswith("/%s.oauth.json" % _leftovers.RELAY_ACCOUNT)


def test_the_module_spec_offers_every_kind():
    spec = leftover_secrets.argument_spec()["unused"]["options"]["kind"]
    assert spec["choices"] == list(_leftovers.KINDS)
