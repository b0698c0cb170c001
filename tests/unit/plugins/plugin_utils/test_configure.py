# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the smtp_configure role's decisions (plugin_utils/_configure.py)."""

from __future__ import annotations

from ansible_collections.mailops.smtp.plugins.plugin_utils import _configure as c

RELOAD = {"postfix": "postfix reload", "gitlab": "gitlab-ctl reconfigure"}


def test_a_postfix_app_with_the_defaults():
    [a] = c.configure_apps([{"preset": "postfix"}], "m365", "basic", "/ca.pem", "", "", RELOAD)
    assert a["name"] == "postfix (default path)" and a["kind"] == "postfix"
    assert not a["connector"] and a["connector_host"] is None and not a["xoauth2"]
    assert a["smtp"] == {"profile": "m365", "ca_path": "/ca.pem"}
    assert a["reload"] == "postfix reload" and a["service_state"] == "restarted"
    assert a["options"] == {} and a["keys_map"] is None


def test_the_endpoints_first_port_and_host_are_written():
    ep = {"profile": "custom", "host": "smtp.lab", "ports": [{"port": 2587, "security": "starttls"}, 465]}
    [a] = c.configure_apps([{"format": "env", "path": "/x.env", "keys": {"host": "H"}, "name": "x"}], ep,
                           "basic", None, "a@b.c", "Alerts", RELOAD)
    assert a["smtp"] == {"profile": "custom", "host": "smtp.lab", "port": 2587, "security": "starttls",
                         "from_address": "a@b.c", "from_name": "Alerts"}
    assert a["name"] == "x" and a["keys_map"] == {"host": "H"} and a["reload"] is None
    [b] = c.configure_apps([{"format": "env", "path": "/x.env"}], {"ports": ["25"]}, "basic")
    assert b["smtp"] == {"profile": "m365", "port": 25}


def test_postfix_relays_through_the_connector_under_the_connector_profile():
    ep = {"profile": "m365_connector", "host": "contoso-com.mail.protection.outlook.com"}
    [a] = c.configure_apps([{"preset": "postfix", "options": {"tenant": "contoso.com"}}], ep, "basic", None,
                           "", "Name not for the connector")
    assert a["connector"] and a["options"] == {"mode": "connector", "tenant": "contoso.com"}
    assert a["smtp"] == {"profile": "m365_connector", "host": "contoso-com.mail.protection.outlook.com"}
    assert a["connector_host"] == "contoso-com.mail.protection.outlook.com"
    [b] = c.configure_apps([{"preset": "postfix", "options": {"mode": "connector", "tenant": "Contoso.COM"}}],
                           "m365", "basic")
    assert b["smtp"] == {"profile": "m365_connector"}
    assert b["connector_host"] == "contoso-com.mail.protection.outlook.com"


def test_msmtp_uses_xoauth2_with_an_oauth2_credential_and_gets_a_token_file():
    [a] = c.configure_apps([{"preset": "msmtp", "options": {"account": "ops"}}], "m365", "oauth2")
    assert a["xoauth2"] and a["account"] == "ops"
    assert a["options"]["token_file"] == a["token_file"] == "/var/lib/mailops-smtp/ops.token"
    [b] = c.configure_apps([{"preset": "msmtp"}], "m365", "basic")
    assert not b["xoauth2"] and "token_file" not in b["options"] and b["account"] == "mailops"
    [d] = c.configure_apps([{"preset": "msmtp", "smtp": {"mechanism": "login"}}], "m365", "oauth2")
    assert not d["xoauth2"]


def test_items_carry_the_apps_options_and_the_refresher_credential_file():
    apps = c.configure_apps([{"preset": "msmtp", "owner": "root", "mode": "0644", "service": "x"},
                             {"preset": "postfix", "options": {"mode": "connector", "tenant": "t"}},
                             {"format": "env", "path": "/e", "keys": {"host": "H"}, "name": "e"}],
                            "m365", "oauth2")
    items = c.settings_items(apps, "/etc/mailops-smtp")
    assert [i["name"] for i in items] == ["msmtp (default path)", "msmtp (default path) (token refresher credential)",
                                          "postfix (default path)", "e"]
    assert items[0]["owner"] == "root" and items[0]["mode"] == "0644" and "service" not in items[0]
    assert items[1]["path"] == "/etc/mailops-smtp/mailops.oauth.json" and items[1]["mode"] == "0600"
    assert items[2]["credential"] is False and items[0]["credential"] is True
    assert items[3]["keys"] == {"host": "H"} and "keys" not in items[0]
    assert [i["name"] for i in c.settings_items(apps)] == ["msmtp (default path)", "postfix (default path)", "e"]


def test_an_app_sending_through_a_relay_holds_no_credential_and_no_token():
    apps = c.configure_apps([{"preset": "msmtp", "options": {"mode": "via_relay"}},
                             {"preset": "django", "path": "/d.py", "options": {"mode": "via_relay"}},
                             {"preset": "django", "path": "/e.py"}], "m365", "oauth2")
    assert [a["via_relay"] for a in apps] == [True, True, False]
    assert not apps[0]["xoauth2"] and "token_file" not in apps[0]["options"]
    items = c.settings_items(apps, "/etc/mailops-smtp")
    assert [i["credential"] for i in items] == [False, False, True]


def test_packages_each_once():
    apps = c.configure_apps([{"preset": "msmtp"}, {"preset": "postfix"}, {"preset": "msmtp", "path": "/b"}],
                            "m365", "basic")
    assert c.packages_for(apps, {"postfix": ["libsasl2-modules"], "msmtp": ["msmtp"]}) == ["msmtp",
                                                                                           "libsasl2-modules"]


def test_reloads_only_for_apps_whose_settings_changed():
    apps = c.configure_apps([{"preset": "postfix"}, {"format": "env", "path": "/e", "name": "e", "service": "app"},
                             {"format": "env", "path": "/f", "name": "f"}], "m365", "basic", preset_reload=RELOAD)
    written = {"apps": [{"name": "postfix (default path)", "content_changed": False},
                        {"name": "e", "content_changed": True}, {"name": "f", "content_changed": True}]}
    assert c.reloads(apps, written) == [{"name": "e", "service": "app", "service_state": "restarted",
                                         "command": None}]
    assert c.reloads(apps, {"skipped": True}) == []
    earlier = [{"name": "e", "service": "old"}, {"name": "x", "service": "x"}]
    assert [r["name"] for r in c.reloads(apps, written, earlier)] == ["x", "e"]


def test_the_refresher_runs_for_changed_xoauth2_apps_only():
    apps = c.configure_apps([{"preset": "msmtp", "name": "m"}, {"format": "env", "path": "/e", "name": "e"}],
                            "m365", "oauth2")
    assert c.refresher_apps(apps, {"apps": [{"name": "m", "changed": False}, {"name": "e", "changed": True}]}) == []
    only_secret = {"apps": [{"name": "m", "changed": False},
                            {"name": "m (token refresher credential)", "changed": True}]}
    assert [a["name"] for a in c.refresher_apps(apps, only_secret)] == ["m"]


def test_the_canary_is_the_first_host_with_something_to_write():
    hostvars = {"h1": {"p": {"changed": False}}, "h2": {}, "h3": {"p": {"changed": True}},
                "h4": {"p": {"changed": True}}, "h5": {"p": {"changed": True, "skipped": True}}}
    assert c.canary_host(["h1", "h2", "h3", "h4", "h5"], hostvars, "p") == "h3"
    assert c.hosts_to_write(["h4", "h3", "h1"], hostvars, "p") == ["h4", "h3"]
    assert c.canary_host(["h1", "h2"], hostvars, "p") is None


def test_the_credential_is_needed_when_any_host_of_the_batch_logs_in():
    # The first host has nothing that logs in: the run_once fetch must still run for the second.
    hostvars = {"relay1": {"smtp_configure__needs_credential": False}, "web1": {"smtp_configure__needs_credential": True},
                "new1": {}, "web2": {"smtp_configure__needs_credential": True}}
    assert c.hosts_needing_credential(["relay1", "web1", "new1", "gone"], hostvars) == ["web1"]
    assert c.hosts_needing_credential(["relay1", "new1"], hostvars) == []
    assert c.hosts_needing_credential(["web2", "web1"], hostvars) == ["web2", "web1"]


AUTH_FAILED = {
    "ok": False, "summary": "587 failed at auth",
    "ports": {"587": {"ok": False, "auth": {"mechanism": "LOGIN", "ok": False,
                                            "reply": "535 5.7.8 Error: authentication failed: bad user"},
                      "diagnosis": {"code": "auth_failed", "title": "Authentication unsuccessful",
                                    "cause": "`535 5.7.3 Authentication unsuccessful` (Microsoft 365) ...",
                                    "fix": "Check the credential."}},
              "465": {"ok": False, "diagnosis": {"code": "port_not_offered", "title": "not offered"}}},
}


def test_a_failure_quotes_the_servers_reply_not_the_catalogue():
    [why] = c.preflight_failures(AUTH_FAILED)
    assert "535 5.7.8 Error: authentication failed: bad user" in why
    assert "5.7.3" not in why
    assert why.startswith("AUTH to the endpoint: 587 failed at auth")
    assert "Authentication unsuccessful. Fix: Check the credential." in why


def test_failures_of_every_probe_and_none_for_passed_or_skipped():
    connector = {"results": [{"ok": True}, {"ok": False, "msg": "no route", "ports": {}}]}
    out = c.preflight_failures([{"skipped": True}, {"ok": True}, AUTH_FAILED], connector)
    assert len(out) == 2 and out[1] == "the connector: no route"
    assert c.preflight_failures({"skipped": True}, {"skipped": True}) == []
    assert c.preflight_failures({"ok": False, "msg": "token request refused: AADSTS7000215"}) == [
        "AUTH to the endpoint: token request refused: AADSTS7000215"]
