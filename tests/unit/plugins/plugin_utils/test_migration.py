# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan and the report of mailops.smtp.migrate (plugins/plugin_utils/_migration.py, filters migrate_*)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.filter.migrate_plan import FilterModule
from ansible_collections.mailops.smtp.plugins.plugin_utils import _migration as m

F = FilterModule().filters()
VIA = {"mode": "via_relay"}
CONNECTOR = {"tenant": "contoso.com", "client_cert": "/etc/ssl/c.pem", "client_key": "/etc/ssl/c.key"}


def plan(hostvars, hosts=None, **kw):
    return m.plan_fleet(hostvars, hosts or list(hostvars), **kw)


def row(method, upstream=None, source="marker", holds=None):
    return {"observed": {"method": method, "relay_upstream": upstream, "source": source,
                         "holds_password": method == "basic" if holds is None else holds}}


def report_of(rows_by_host, nested=False):
    hosts = []
    for host, rows in rows_by_host.items():
        hosts.append({"host": host, "readiness": {"apps": rows}} if nested else {"host": host, "apps": rows})
    return {"hosts": hosts}


# -- the way now -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, method, upstream", [
    ("direct_basic", "basic", None), ("direct_xoauth2", "xoauth2", None), ("direct_graph", "xoauth2", None),
    ("direct_connector", "connector", None), ("direct_unknown", "unknown", None),
    ("relay_xoauth2", "via_relay", "xoauth2"), ("relay_basic", "via_relay", "basic"),
    ("relay_unknown", "via_relay", None), ("nonsense", "unknown", None), (None, "unknown", None),
])
def test_a_report_path_code_is_a_way(code, method, upstream):
    assert m.method_of_path(code) == method and m.upstream_of_path(code) == upstream


def test_the_observed_way_wins_over_the_declared_one():
    way = m.way_now({"preset": "msmtp"}, dict(row("basic"), path="direct_xoauth2"))
    assert way == {"method": "basic", "relay_upstream": None, "source": "marker", "holds_password": True}


def test_without_an_observation_the_report_row_path_is_the_declared_way():
    way = m.way_now({"preset": "msmtp"}, {"path": "direct_xoauth2"})
    assert way == {"method": "xoauth2", "relay_upstream": None, "source": "declared", "holds_password": False}


def test_without_a_report_row_the_app_itself_is_the_declared_way():
    assert m.way_now({"preset": "grafana"})["method"] == "basic"
    assert m.way_now({"preset": "grafana", "options": VIA}, None, "xoauth2") == {
        "method": "via_relay", "relay_upstream": "xoauth2", "source": "declared", "holds_password": False}
    # msmtp's way depends on the credential, which the app alone does not say.
    assert m.way_now({"preset": "msmtp"})["method"] == "unknown"


def test_report_rows_read_both_report_shapes():
    flat = report_of({"web1": [row("basic")]})
    nested = report_of({"web1": [row("basic")]}, nested=True)
    assert m.report_rows(flat) == m.report_rows(nested) == {"web1": [row("basic")]}
    assert m.report_rows(None) == {} and m.report_rows({"hosts": [{"apps": []}, "x"]}) == {}


# -- one application -------------------------------------------------------------------------------------

def test_msmtp_on_basic_moves_to_xoauth2_and_loses_its_explicit_login_mechanism():
    app = {"preset": "msmtp", "smtp": {"mechanism": "login", "port": 587}, "options": {"account": "ops"}}
    p = plan({"web1": {"smtp_configure_apps": [app]}}, report=report_of({"web1": [row("basic")]}))["web1"]
    assert p["apps"][0]["from"] == "basic" and p["apps"][0]["to"] == "xoauth2"
    assert p["configure_apps"] == [{"preset": "msmtp", "smtp": {"port": 587}, "options": {"account": "ops"}}]
    assert p["changes"] is True and p["relay"] is None
    assert app["smtp"]["mechanism"] == "login", "the inventory's dict is not changed in place"


def test_gitlab_moves_to_its_graph_mailer():
    p = plan({"h": {"smtp_configure_apps": [{"preset": "gitlab"}]}},
             report=report_of({"h": [{"path": "direct_basic"}]}))["h"]
    assert p["apps"][0]["to"] == "xoauth2" and p["configure_apps"] == [{"preset": "gitlab"}]


def test_msmtp_declared_without_a_known_credential_type_still_moves_to_xoauth2():
    p = plan({"h": {"smtp_configure_apps": [{"preset": "msmtp"}]}})["h"]
    assert (p["apps"][0]["from"], p["apps"][0]["to"], p["apps"][0]["blocked"]) == ("unknown", "xoauth2", None)


def test_an_app_whose_file_could_not_be_read_is_blocked_and_left_as_it_is():
    p = plan({"h": {"smtp_configure_apps": [{"preset": "grafana"}]}},
             report=report_of({"h": [row("unknown", source="unreadable", holds=None)]}))["h"]
    e = p["apps"][0]
    assert e["to"] == "unchanged" and e["blocked"]["code"] == "unreadable" and "become" in e["blocked"]["text"]
    # Out of the configure run (it would get the oauth2 credential), still in the after report as it was.
    assert p["configure_apps"] == [] and p["report_apps"] == [{"preset": "grafana"}] and p["changes"] is False


@pytest.mark.parametrize("observed", [row("xoauth2"), row("connector"), row("via_relay", "xoauth2"),
                                      row("via_relay", "connector")])
def test_an_app_on_a_way_that_survives_is_unchanged(observed):
    apps = [{"preset": "grafana", "options": VIA}]
    p = plan({"h": {"smtp_configure_apps": apps}}, report=report_of({"h": [observed]}))["h"]
    assert p["apps"][0]["to"] == "unchanged" and p["changes"] is False and p["configure_apps"] == apps


def test_postfix_goes_through_the_connector_when_the_operator_chose_it():
    apps = [{"preset": "postfix", "smtp": {"mechanism": "login"}}]
    p = plan({"h": {"smtp_configure_apps": apps}}, connector=CONNECTOR)["h"]
    assert p["apps"][0]["to"] == "connector" and p["relay"] is None
    assert p["configure_apps"] == [{"preset": "postfix", "options": dict(CONNECTOR, mode="connector")}]


def test_a_host_s_own_connector_choice_wins_over_the_run_s():
    hv = {"a": {"smtp_configure_apps": ["postfix"], "smtp_migrate_connector": {}},
          "b": {"smtp_configure_apps": ["postfix"]}}
    p = plan(hv, connector=CONNECTOR)
    assert p["a"]["apps"][0]["to"] == "via_relay" and p["b"]["apps"][0]["to"] == "connector"


def test_a_connector_choice_must_be_a_dict():
    with pytest.raises(m.MigrationError, match="smtp_migrate_connector"):
        plan({"h": {"smtp_configure_apps": ["postfix"], "smtp_migrate_connector": "yes"}})


def test_an_app_without_oauth_goes_through_a_relay_on_the_host():
    p = plan({"h": {"smtp_configure_apps": [{"preset": "grafana"}, {"preset": "django", "path": "/srv/s.py"}]}})["h"]
    assert [e["to"] for e in p["apps"]] == ["via_relay", "via_relay"]
    assert p["apps"][0]["relay"] == {"host": "127.0.0.1", "port": 25, "designated": False}
    assert p["configure_apps"] == [{"preset": "grafana", "options": VIA},
                                   {"preset": "django", "path": "/srv/s.py", "options": VIA}]
    assert p["relay"] == {"smtp_relay_upstream": "xoauth2", "smtp_relay_listen": "loopback",
                          "smtp_relay_mailbox_relays": 1}


def test_postfix_on_a_host_with_its_own_relay_is_taken_over_by_the_relay():
    p = plan({"h": {"smtp_configure_apps": [{"preset": "postfix"}, {"preset": "msmtp"}]}},
             report=report_of({"h": [row("basic"), row("basic")]}))["h"]
    assert p["apps"][0]["to"] == "via_relay" and p["apps"][0]["relay"]["designated"] is False
    # The preset cannot relay to itself: the smtp_relay role takes this Postfix over.
    assert p["configure_apps"] == [{"preset": "msmtp"}] and p["relay"]["smtp_relay_listen"] == "loopback"
    # The after report sees that Postfix as what it is now: through the relay on its host.
    assert p["report_apps"] == [{"preset": "postfix", "options": {"mode": "via_relay"}}, {"preset": "msmtp"}]
    # It still sends (through the relay): the move proves it beside the apps the configure run writes.
    assert p["proof_apps"] == [{"preset": "msmtp"}, {"preset": "postfix"}]


def test_apps_go_to_the_designated_relay_the_inventory_names():
    hv = {"app1": {"smtp_configure_apps": [{"preset": "postfix"}, {"preset": "grafana"}]},
          "relay1": {"smtp_configure_apps": [], "smtp_relay_listen": ["198.18.0.9"],
                     "mailops_smtp_relay_upstream": "xoauth2"}}
    p = plan(hv, hosts=["app1"], inventory_hosts=["app1", "relay1"])
    entry = p["app1"]["apps"][0]
    assert entry["to"] == "via_relay" and entry["relay"] == {"host": "198.18.0.9", "port": 25, "designated": True}
    assert p["app1"]["configure_apps"][0]["options"] == {"mode": "via_relay", "relay_host": "198.18.0.9",
                                                         "relay_port": 25}
    # The host sends to another host's relay: it runs none itself.
    assert p["app1"]["relay"] is None


def test_a_designated_relay_on_basic_moves_its_own_upstream_and_is_the_canary():
    hv = {"app1": {"smtp_configure_apps": [{"preset": "grafana"}]},
          "relay1": {"smtp_configure_apps": [], "smtp_relay_listen": ["198.18.0.9"], "smtp_relay_upstream": "basic"}}
    p = plan(hv, hosts=["app1", "relay1"])
    assert p["relay1"]["relay"] == {"smtp_relay_upstream": "xoauth2", "smtp_relay_listen": ["198.18.0.9"],
                                    "smtp_relay_mailbox_relays": 1}
    assert p["relay1"]["changes"] is True
    assert m.canary(p, ["app1", "relay1"]) == "relay1"


def test_a_designated_relay_not_seen_running_is_set_up_in_its_own_plan_first():
    # The inventory designates it, but neither names its upstream nor did the before phase see its Postfix run
    # the relay (mailops_smtp_relay_upstream): its clients would send to nothing, so it gets the relay, first.
    hv = {"app1": {"smtp_configure_apps": [{"preset": "grafana"}]},
          "relay1": {"smtp_configure_apps": [], "smtp_relay_listen": "198.18.0.9"}}
    p = plan(hv, hosts=["app1", "relay1"])
    assert p["relay1"]["relay"] == {"smtp_relay_upstream": "xoauth2", "smtp_relay_listen": "198.18.0.9",
                                    "smtp_relay_mailbox_relays": 1}
    assert p["relay1"]["changes"] is True
    assert m.canary(p, ["app1", "relay1"]) == "relay1"


def test_a_designated_relay_seen_running_xoauth2_stays():
    # The before phase sets mailops_smtp_relay_upstream from Postfix's transport (migrate_relay_running).
    hv = {"relay1": {"smtp_configure_apps": [], "smtp_relay_listen": "198.18.0.9",
                     "mailops_smtp_relay_upstream": "xoauth2"}}
    assert plan(hv)["relay1"]["relay"] is None and plan(hv)["relay1"]["changes"] is False


def test_smtp_migrate_relay_local_ignores_the_designated_relays():
    hv = {"app1": {"smtp_configure_apps": ["grafana"]}, "relay1": {"smtp_relay_listen": ["198.18.0.9"]}}
    p = plan(hv, hosts=["app1"], inventory_hosts=["app1", "relay1"], relay_choice="local")
    assert p["app1"]["apps"][0]["relay"]["host"] == "127.0.0.1" and p["app1"]["relay"] is not None


def test_smtp_migrate_relay_names_a_designated_relay_or_blocks_the_apps_that_need_one():
    hv = {"app1": {"smtp_configure_apps": ["grafana", "msmtp"]},
          "r1": {"smtp_relay_listen": ["198.18.0.8"]}, "r2": {"smtp_relay_listen": ["198.18.0.9"]}}
    p = plan(hv, hosts=["app1"], inventory_hosts=list(hv), relay_choice="r2")
    assert p["app1"]["apps"][0]["relay"]["host"] == "198.18.0.9"
    p = plan(hv, hosts=["app1"], inventory_hosts=list(hv), relay_choice="app1")
    blocked = p["app1"]["apps"][0]["blocked"]
    assert blocked["code"] == "no_relay" and "smtp_migrate_relay names app1" in blocked["text"]
    # msmtp needs no relay: it still moves; the blocked app leaves the configure run (it would get the oauth2
    # credential) and stays in the after report as it was.
    assert p["app1"]["apps"][1]["to"] == "xoauth2"
    assert p["app1"]["configure_apps"] == [{"preset": "msmtp"}]
    assert p["app1"]["report_apps"] == [{"preset": "grafana"}, {"preset": "msmtp"}]


def test_an_app_through_its_host_s_relay_on_basic_keeps_its_files_and_the_relay_moves():
    apps = [{"preset": "grafana", "options": VIA}]
    p = plan({"h": {"smtp_configure_apps": apps, "mailops_smtp_relay_upstream": "basic"}},
             report=report_of({"h": [row("via_relay", "basic")]}))["h"]
    e = p["apps"][0]
    assert e["to"] == "unchanged" and "relay on this host" in e["note"] and p["configure_apps"] == apps
    assert p["relay"]["smtp_relay_upstream"] == "xoauth2" and p["changes"] is True


def test_an_app_through_a_designated_relay_on_basic_waits_for_that_relay_s_own_plan():
    apps = [{"preset": "grafana", "options": dict(VIA, relay_host="198.18.0.9")}]
    p = plan({"h": {"smtp_configure_apps": apps}}, report=report_of({"h": [row("via_relay", "basic")]}))["h"]
    assert p["apps"][0]["to"] == "unchanged" and p["apps"][0]["relay"]["designated"] is True
    assert p["relay"] is None and p["changes"] is False


def test_a_host_already_running_a_relay_on_xoauth2_gets_no_relay_again():
    hv = {"h": {"smtp_configure_apps": [{"preset": "spring", "options": VIA}, {"preset": "grafana"}],
                "mailops_smtp_relay_upstream": "xoauth2"}}
    p = plan(hv)["h"]
    assert [e["to"] for e in p["apps"]] == ["unchanged", "via_relay"] and p["relay"] is None


def test_every_relay_of_the_plan_counts_the_relays_sharing_the_mailbox():
    # Three relays need three of the mailbox's connections (the relay role's default budget is 2).
    hv = {h: {"smtp_configure_apps": ["grafana"], "smtp_relay_mailbox_connections": 3} for h in ("a", "b", "c")}
    p = plan(hv)
    assert {p[h]["relay"]["smtp_relay_mailbox_relays"] for h in hv} == {3}


def test_a_plan_with_more_relays_than_the_mailbox_has_connections_is_refused():
    # The relay role's default budget is 2 connections: the third relay would be refused in the canary's
    # move, after its files were saved. The plan says so first, naming the hosts and the way out.
    hv = {h: {"smtp_configure_apps": ["grafana"]} for h in ("a", "b", "c")}
    with pytest.raises(m.MigrationError, match=r"relay on each of 3 hosts \(a, b, c\).*designated relay hosts"):
        plan(hv)
    hv["c"] = {"smtp_configure_apps": ["msmtp"]}
    assert {h for h, p in plan(hv).items() if p["relay"]} == {"a", "b"}


def test_a_rerun_after_the_move_plans_nothing():
    hv = {"h": {"smtp_configure_apps": [{"preset": "msmtp"}, {"preset": "grafana"}]}}
    first = plan(hv, report=report_of({"h": [row("basic"), row("basic")]}))["h"]
    again = plan({"h": {"smtp_configure_apps": first["configure_apps"]}},
                 report=report_of({"h": [row("xoauth2"), row("via_relay", "xoauth2")]}))["h"]
    assert again["changes"] is False and [e["to"] for e in again["apps"]] == ["unchanged", "unchanged"]
    assert again["configure_apps"] == first["configure_apps"]


def test_a_rerun_with_the_old_apps_still_declared_plans_nothing_through_a_designated_relay():
    # The inventory still declares Grafana's old (basic) way; its file says via_relay with no upstream known
    # (the designated relay's is on another host). It was moved through the designated relay: its way stays,
    # and no relay is planned on this host.
    hv = {"app1": {"smtp_configure_apps": [{"preset": "grafana"}]},
          "relay1": {"smtp_configure_apps": [], "smtp_relay_listen": ["198.18.0.9"],
                     "mailops_smtp_relay_upstream": "xoauth2"}}
    p = plan(hv, hosts=["app1", "relay1"], report=report_of({"app1": [row("via_relay")]}))
    assert p["app1"]["changes"] is False and p["app1"]["relay"] is None, p["app1"]
    assert p["app1"]["apps"][0]["relay"] == {"host": "198.18.0.9", "port": 25, "designated": True}
    assert m.canary(p, ["app1", "relay1"]) is None
    # An app the inventory declares on a relay of its own host, whose upstream is not known, still moves it.
    local = {"h": {"smtp_configure_apps": [{"preset": "grafana", "options": {"mode": "via_relay"}}]}}
    assert plan(local, report=report_of({"h": [row("via_relay")]}))["h"]["relay"] is not None


def test_a_host_without_apps_has_nothing_to_move_and_bad_apps_are_refused():
    assert plan({"h": {}})["h"] == {"host": "h", "changes": False, "apps": [], "configure_apps": [], "relay": None,
                                    "report_apps": [], "proof_apps": [], "relay_hosts": {}}
    with pytest.raises(m.MigrationError, match="must be a list"):
        plan({"h": {"smtp_configure_apps": "postfix"}})


def test_the_canary_is_the_first_host_with_changes():
    hv = {"a": {"smtp_configure_apps": [{"preset": "msmtp", "options": {}}]}, "b": {"smtp_configure_apps": ["grafana"]}}
    p = plan(hv, report=report_of({"a": [row("xoauth2")]}))
    assert m.canary(p, ["a", "b"]) == "b" and m.canary({}, ["a"]) is None


def test_the_plan_table_has_a_row_per_app_and_relay():
    p = plan({"web1": {"smtp_configure_apps": ["postfix", "msmtp"]}, "web2": {},
              "web3": {"smtp_configure_apps": ["grafana"]}},
             report=report_of({"web1": [row("basic"), row("basic")],
                               "web3": [row("unknown", source="unreadable")]}))
    table = m.plan_table(p, ["web1", "web2", "web3"]).splitlines()
    assert table[0] == "| host | application | now | after | note |"
    assert table[2] == ("| web1 | postfix (default path) | basic | via_relay 127.0.0.1:25 | "
                        "the host's relay (smtp_relay) takes this Postfix over |")
    assert table[3] == "| web1 | msmtp (default path) | basic | xoauth2 |  |"
    assert table[4] == "| web1 | (relay) | - | smtp_relay upstream xoauth2, listen loopback |  |"
    assert table[5] == "| web2 | - | - | unchanged | no application |"
    assert table[6].startswith("| web3 | grafana (default path) | unknown | blocked (unreadable) | its file")


# -- the report ------------------------------------------------------------------------------------------

def _fleet():
    hv = {"web1": {"smtp_configure_apps": [{"preset": "msmtp"}, {"preset": "postfix"}]},
          "web2": {"smtp_configure_apps": [{"preset": "grafana"}]},
          "web3": {"smtp_configure_apps": [{"preset": "grafana"}]}}
    # Three relays on one mailbox: each needs one of its connections (3 at most at Microsoft 365).
    for v in hv.values():
        v["smtp_relay_mailbox_connections"] = 3
    before = report_of({h: [row("basic")] * len(v["smtp_configure_apps"]) for h, v in hv.items()})
    return hv, before, m.plan_fleet(hv, list(hv), report=before)


def _proof(name, accepted=True, kind="smtp_client"):
    return {"name": name, "proof": {"name": name, "kind": kind, "accepted": accepted, "reply": "250 2.0.0 OK",
                                    "path": "xoauth2", "diagnosis": None if accepted else "auth_failed",
                                    "message_id": "<proof-%s@mailops-smtp>" % name.split()[0]}}


def test_check_mode_report_has_the_plan_and_no_after():
    hv, before, plans = _fleet()
    r = m.migration_report(list(hv), plans, {}, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before,
                           check_mode=True, credentials={h: "secret/smtp/basic" for h in hv})
    assert r["state"] == "planned" and r["message"] is None and r["counts"] == {"planned": 3}
    assert "| web1 | msmtp (default path) | basic | xoauth2 |  |" in r["plan_table"]
    app = r["hosts"][0]["apps"][0]
    assert (app["before"], app["planned"], app["after"], app["proof_kind"]) == ("basic", "xoauth2", None, None)
    # Nothing moved: every file still holds its password, and no credential can be retired.
    assert len(r["password_files"]) == 4 and r["retirable_credentials"] == []
    assert r["password_files"][:2] == [{"host": "web1", "app": "msmtp (default path)", "path": "/etc/msmtprc"},
                                       {"host": "web1", "app": "postfix (default path)",
                                        "path": "/etc/postfix/sasl_passwd"}]


def test_a_finished_run_reports_proofs_after_ways_and_the_credential_to_retire():
    hv, before, plans = _fleet()
    web1_proofs = [_proof("msmtp (default path)", kind="app_command"),
                   _proof("postfix (default path)", kind="relay_log")]
    moved = {"web1": {"status": "moved", "apps": web1_proofs},
             "web2": {"status": "moved", "apps": [_proof("grafana (default path)")]},
             "web3": {"status": "unchanged", "apps": []}}
    after = report_of({"web1": [row("xoauth2"), row("via_relay", "xoauth2")],
                       "web2": [row("via_relay", "xoauth2")], "web3": [row("via_relay", "xoauth2")]})
    creds = {"web1": "secret/smtp/basic", "web2": "secret/smtp/basic", "web3": "secret/smtp/other"}
    r = m.migration_report(list(hv), plans, moved, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before,
                           after, credentials=creds, new_credential="secret/smtp/oauth", generated_at="now")
    assert r["state"] == "done" and r["message"] is None
    web1 = r["hosts"][0]
    assert [(a["before"], a["after"], a["proof_kind"], a["proof_accepted"]) for a in web1["apps"]] == [
        ("basic", "xoauth2", "app_command", True), ("basic", "via_relay", "relay_log", True)]
    # The proof's Message-ID, to find the message at Microsoft 365.
    assert [a["proof_message_id"] for a in web1["apps"]] == ["<proof-msmtp@mailops-smtp>", "<proof-postfix@mailops-smtp>"]
    assert r["password_files"] == []
    assert r["retirable_credentials"] == ["secret/smtp/basic", "secret/smtp/other"]
    md = m.report_markdown(r)
    assert "| web1 | moved | msmtp (default path) | basic | xoauth2 | xoauth2 | app_command | yes | no |" in md
    assert "- secret/smtp/basic" in md and "## Files that still hold a password\n\nnone" in md


def test_a_restored_host_keeps_its_password_its_credential_and_stops_the_run():
    hv, before, plans = _fleet()
    moved = {"web1": {"status": "moved", "apps": []},
             "web2": {"status": "restored", "apps": [_proof("grafana (default path)", accepted=False)],
                      "restored_files": ["/etc/grafana/grafana.ini"], "message": "the relay's upstream refused"}}
    creds = {h: "secret/smtp/basic" for h in hv}
    r = m.migration_report(list(hv), plans, moved, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before,
                           credentials=creds)
    assert [h["status"] for h in r["hosts"]] == ["moved", "restored", "not_run"]
    assert r["state"] == "stopped" and "web2 (restored)" in r["message"] and "web3 (not_run)" in r["message"]
    web2 = r["hosts"][1]
    assert web2["apps"][0]["after"] == "basic" and web2["apps"][0]["holds_password"] is True
    assert web2["apps"][0]["proof_accepted"] is False and web2["restored_files"] == ["/etc/grafana/grafana.ini"]
    assert r["retirable_credentials"] == []
    assert "- web2 (restored): the relay's upstream refused" in m.report_markdown(r)


def test_unreachable_hosts_are_reported_and_a_stop_message_wins():
    hv, before, plans = _fleet()
    r = m.migration_report(list(hv), {}, {}, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before,
                           unreachable=["web3"], stop_message="1 host(s) cannot be reached: web3")
    assert r["state"] == "unreachable" and r["message"].startswith("1 host(s)")
    assert [h["status"] for h in r["hosts"]] == ["not_run", "not_run", "unreachable"]
    assert r["plan_table"] is None
    lost = m.migration_report(["web1"], plans, {"web1": {"unreachable": True}}, {}, None)
    assert lost["hosts"][0]["status"] == "unreachable" and lost["state"] == "unreachable"
    failed = m.migration_report(["web1"], plans, {"web1": {"failed": True, "msg": "boom"}}, {}, None)
    assert failed["hosts"][0]["status"] == "failed" and failed["hosts"][0]["message"] == "boom"


@pytest.mark.parametrize("statuses, pct, stop, failed", [
    ({"a": "moved", "b": "unchanged"}, 0, False, []),
    ({"a": "moved", "b": "restored"}, 0, True, ["b"]),
    ({"a": "moved", "b": "restored"}, 50, False, ["b"]),
    ({"a": None, "b": "moved", "c": "moved"}, 30, True, ["a"]),
])
def test_the_batches_stop_past_the_failure_threshold(statuses, pct, stop, failed):
    moved = dict((h, {"status": s} if s else None) for h, s in statuses.items())
    assert m.batch_stopped(moved, list(statuses), pct) == (stop, failed)
    assert m.batch_stopped({}, [], 0) == (False, [])


# -- the filters ------------------------------------------------------------------------------------------

def test_the_plan_filter_reads_hostvars_and_a_slurped_report():
    hv = {"web1": {"smtp_configure_apps": [{"preset": "msmtp"}], "unrelated": 1},
          "relay1": {"smtp_relay_listen": ["198.18.0.9"]}}
    text = json.dumps(report_of({"web1": [row("basic")]}))
    p = F["migrate_plan"](hv, ["web1"], text, "auto", None, "m365", ["web1", "relay1"])
    assert list(p) == ["web1"] and p["web1"]["apps"][0]["from"] == "basic"
    assert F["migrate_canary"](p, ["web1"]) == "web1"
    assert F["migrate_plan_table"](p, ["web1"]).count("\n") == 2
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        F["migrate_plan"]({"h": {"smtp_configure_apps": "x"}}, ["h"])


def test_the_report_filter_reads_each_host_s_facts_and_credential():
    hv, before, plans = _fleet()
    facts = dict((h, dict(v, smtp_migrate__plan=plans[h], mailops_smtp_vault={"path": "smtp/basic"}))
                 for h, v in hv.items())
    r = F["migrate_report"](facts, list(hv), json.dumps(before), "", [], True, None, "t", "secret/smtp/o",
                            {"json": "/r/migration.json"})
    assert r["state"] == "planned" and r["paths"] == {"json": "/r/migration.json"}
    assert r["credential"] == "secret/smtp/o" and F["migrate_report_markdown"](r).startswith("# SMTP migration")
    stopped = F["migrate_batch_stopped"]({"web1": {"smtp_migrate__moved": {"status": "restored"}}, "web2": {}},
                                         ["web1", "web2"], 0)
    assert stopped == {"stop": True, "failed": ["web1"], "attempted": ["web1"]}
    # A failed canary stops the batches whatever the threshold.
    assert F["migrate_batch_stopped"]({"web1": {"smtp_migrate__moved": {"status": "restored"}},
                                       "web2": {"smtp_migrate__moved": {"status": "moved"}}},
                                      ["web1", "web2"], 90, "web1")["stop"] is True
    assert m.parse_report(b"not json") is None and m.credential_where({"mount": "kv", "path": "p"}) == "kv/p"


def test_unreachable_hosts_stop_the_run_or_leave_it_as_the_rotation_decides():
    pings = {"web1": {"ping": "pong"}, "web2": {"unreachable": True, "msg": "ssh: connect timed out"}}
    stop = F["migrate_reach"](pings, "stop", False)
    assert stop["unreachable"] == ["web2"] and stop["stop"] is True
    assert "web2 (" in stop["message"] and "smtp_migrate_unreachable=skip" in stop["message"]
    assert "Vault" not in stop["message"]
    skip = F["migrate_reach"](pings, "skip", False)
    assert skip["stop"] is False and skip["message"] is None and skip["unreachable"] == ["web2"]
    assert F["migrate_reach"](pings, "stop", True)["stop"] is False, "--check always goes on"
    with pytest.raises(AnsibleFilterError, match="smtp_migrate_unreachable"):
        F["migrate_reach"](pings, "maybe")


def test_every_credential_read_or_changed_is_locked_once():
    a = {"path": "smtp/basic", "url": "https://vault"}
    hv = {"web1": {"mailops_smtp_vault": a}, "web2": {"mailops_smtp_vault": dict(a)},
          "web3": {"mailops_smtp_vault": {"mount": "kv", "path": "smtp/other"}}, "web4": {}}
    new = {"path": "smtp/oauth"}
    locks = F["migrate_locks"](hv, list(hv), new)
    assert [m.credential_where(v) for v in locks] == ["secret/smtp/basic", "kv/smtp/other", "secret/smtp/oauth"]
    assert F["migrate_locks"]({"web1": {"mailops_smtp_vault": new}}, ["web1"], new) == [new]


def test_a_run_that_moved_no_host_is_planned_not_stopped():
    """--tags plan without --check (or --tags before) moves nothing: that is no host failing to move."""
    hv, before, plans = _fleet()
    r = m.migration_report(list(hv), plans, {}, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before)
    assert r["state"] == "planned" and r["message"] is None
    assert [h["status"] for h in r["hosts"]] == ["not_run"] * 3


def test_each_plan_names_the_designated_relay_hosts_by_address_for_the_proof():
    hv = {"app1": {"smtp_configure_apps": ["grafana"]}, "relay1": {"smtp_relay_listen": ["198.18.0.9"]}}
    p = plan(hv, hosts=["app1", "relay1"])
    assert p["app1"]["relay_hosts"] == p["relay1"]["relay_hosts"] == {"198.18.0.9": "relay1"}


def _timed(name, started_at, waited_s):
    entry = _proof(name)
    entry["proof"].update(started_at=started_at, waited_s=waited_s)
    return entry


def test_the_report_records_the_proof_waits_per_host_and_counts_overlapping_ones_once():
    # Issue 21, section 5: the benchmark subtracts the run's recorded waits from its time.
    hv, before, plans = _fleet()
    moved = {"web1": {"status": "moved", "apps": [_timed("msmtp (default path)", 100.0, 1.5),
                                                  _timed("postfix (default path)", 101.5, 3.0)]},
             # Moved in the same batch as web1: its wait overlaps web1's from 102 to 104.5.
             "web2": {"status": "moved", "apps": [_timed("grafana (default path)", 102.0, 4.0)]},
             "web3": {"status": "unchanged", "apps": []}}
    r = m.migration_report(list(hv), plans, moved, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before)
    assert [h["timings"] for h in r["hosts"]] == [{"proof_wait_s": 4.5, "pacing_wait_s": 0.0},
                                                  {"proof_wait_s": 4.0, "pacing_wait_s": 0.0},
                                                  {"proof_wait_s": 0.0, "pacing_wait_s": 0.0}]
    assert r["timings"] == {"proof_wait_s": 8.5, "proof_wait_wall_s": 6.0, "pacing_wait_s": 0.0}


def test_a_proof_decided_by_a_relays_log_counts_its_send_and_the_batchs_read_at_their_own_times():
    # web1 and web2 send one after the other (100-101, 101-102); the batch's reader then reads the relay's
    # log for both (110-111 for web1's message, 111-113 for web2's).
    grafana = _timed("grafana (default path)", 100.0, 2.0)
    grafana["proof"]["wait_spans"] = [[100.0, 1.0], [110.0, 1.0]]
    django = _timed("django (default path)", 101.0, 3.0)
    django["proof"]["wait_spans"] = [[101.0, 1.0], [111.0, 2.0]]
    assert m.fleet_timings(["web1", "web2"], {"web1": {"apps": [grafana]}, "web2": {"apps": [django]}}) == {
        "proof_wait_s": 5.0, "proof_wait_wall_s": 5.0, "pacing_wait_s": 0.0}
    assert m.host_timings({"apps": [django]}) == {"proof_wait_s": 3.0, "pacing_wait_s": 0.0}


def test_wall_seconds_counts_each_moment_once():
    assert m.wall_seconds([]) == 0.0
    assert m.wall_seconds([(10.0, 2.0), (20.0, 1.0)]) == 3.0           # apart
    assert m.wall_seconds([(10.0, 5.0), (11.0, 1.0)]) == 5.0           # one inside the other
    assert m.wall_seconds([(12.0, 2.0), (10.0, 3.0)]) == 4.0           # overlapping, out of order
    # A failed host has no proof: nothing to count.
    assert m.host_timings({"failed": True, "msg": "boom"}) == {"proof_wait_s": 0.0, "pacing_wait_s": 0.0}


@pytest.mark.parametrize("transport,upstream", [("mailops_xoauth2:[smtp.office365.com]:587\n", "xoauth2"),
                                                ("smtp", None), ("", None), (None, None)])
def test_the_relay_a_host_runs_is_read_from_its_postfix_transport(transport, upstream):
    assert m.running_relay_upstream(transport) == upstream
    assert FilterModule().filters()["migrate_relay_running"](transport) == upstream


def test_the_plan_reads_the_mailbox_connections_from_hostvars():
    hv = {h: {"smtp_configure_apps": ["grafana"], "smtp_relay_mailbox_connections": 3, "other": 1}
          for h in ("a", "b", "c")}
    inputs = m.host_inputs(hv, list(hv), m._PLAN_VARS)
    assert inputs["a"] == {"smtp_configure_apps": ["grafana"], "smtp_relay_mailbox_connections": 3}


def test_the_locks_are_renewed_once_a_quarter_of_their_ttl_has_passed():
    assert m.lock_renewal(None, 3600, now=1000.0) == {"due": True, "now": 1000.0}
    assert m.lock_renewal(1000.0, 3600, now=1899.0)["due"] is False
    assert m.lock_renewal(1000.0, 3600, now=1900.0)["due"] is True
    assert m.lock_renewal("1000.0", "60", now=1015.0)["due"] is True
    # Anything unreadable renews: a renewal too many costs a Vault write, one too few could lose the lock.
    assert m.lock_renewal("yesterday", 3600, now=1000.0)["due"] is True


def test_a_host_lost_during_its_move_is_named_as_part_way_moved_and_the_others_keep_their_files():
    hv, before, plans = _fleet()
    moved = {"web1": {"status": "moved", "apps": []},
             "web2": {"status": None, "unreachable": True, "failed": True, "apps": [], "restored_files": [],
                      "message": "web2: lost during its move"}}
    r = m.migration_report(list(hv), plans, moved, {h: v["smtp_configure_apps"] for h, v in hv.items()}, before)
    assert [h["status"] for h in r["hosts"]] == ["moved", "unreachable", "not_run"]
    assert r["state"] == "stopped"
    assert "Each keeps its previous files but web2, lost during its move: its files may be part-way moved" \
        in r["message"], r["message"]
    # A host unreachable from the start was never touched: it keeps its files like the others.
    r = m.migration_report(list(hv), plans, {"web1": {"status": "moved", "apps": []}},
                           {h: v["smtp_configure_apps"] for h, v in hv.items()}, before, unreachable=["web2"])
    assert "Each keeps its previous files;" in r["message"] and "part-way" not in r["message"], r["message"]


def test_a_file_that_could_not_be_read_after_the_run_holds_a_password_as_it_did_before():
    unknown = {"method": "unknown", "holds_password": None}
    assert m._holds_password({"method": "basic"}, unknown) is True
    assert m._holds_password({"method": "xoauth2"}, unknown) is False
    assert m._holds_password({"method": "basic"}, {"method": "xoauth2", "holds_password": False}) is False
    assert m._holds_password({"method": "basic"}, None) is True


def test_a_host_lost_after_its_proofs_is_moved_but_the_run_is_not_a_clean_finish():
    hv, before, plans = _fleet()
    apps = {h: v["smtp_configure_apps"] for h, v in hv.items()}
    left = {"status": "moved", "apps": [], "saved_copies": ["/s/r1"], "lost_after_move": True,
            "message": "web2: moved and proven, but the saved copy ... is left in /s/r1"}
    moved = {"web1": {"status": "moved", "apps": []}, "web2": left, "web3": {"status": "unchanged", "apps": []}}
    r = m.migration_report(list(hv), plans, moved, apps, before)
    assert [h["status"] for h in r["hosts"]] == ["moved", "moved", "unchanged"]
    assert r["hosts"][1]["saved_copies"] == ["/s/r1"] and r["hosts"][1]["lost_after_move"] is True
    # As a host lost during the run: unreachable, and the message (which fails the run) names it.
    assert r["state"] == "unreachable", r
    assert r["message"] == ("Every host moved or had nothing to move. web2 still holds a saved copy of previous "
                            "files with the old passwords: its entry says why and the command that deletes it.")
    assert "- web2 (moved): web2: moved and proven, but the saved copy" in m.report_markdown(r)
    # A copy left by a failed deletion on a host that still answers: stopped.
    moved["web2"] = dict(left, lost_after_move=False)
    assert m.migration_report(list(hv), plans, moved, apps, before)["state"] == "stopped"


def test_a_copy_left_beside_hosts_that_did_not_move_is_named_after_them():
    hv, before, plans = _fleet()
    apps = {h: v["smtp_configure_apps"] for h, v in hv.items()}
    moved = {"web1": {"status": "unchanged", "apps": [], "saved_copies": ["/s/r0"], "lost_after_move": True},
             "web2": {"status": None, "unreachable": True, "failed": True, "apps": [], "restored_files": [],
                      "message": "web2: lost during its move"}}
    r = m.migration_report(list(hv), plans, moved, apps, before)
    assert [h["status"] for h in r["hosts"]] == ["unchanged", "unreachable", "not_run"]
    assert r["state"] == "stopped"
    assert r["message"].startswith("2 host(s) did not move: web2 (unreachable), web3 (not_run).")
    assert r["message"].endswith(" web1 still holds a saved copy of previous files with the old passwords: its "
                                 "entry says why and the command that deletes it."), r["message"]
    # Without the host not run, every unfinished host was lost: unreachable, as before.
    r = m.migration_report(["web1", "web2"], plans, moved, apps, before)
    assert r["state"] == "unreachable", r["state"]
