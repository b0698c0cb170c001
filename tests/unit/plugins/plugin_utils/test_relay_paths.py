# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What validate checks for relays, and each application's path (plugin_utils/_relay_paths.py)."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils import _relay_paths as rp

VIA = {"mode": "via_relay"}


def test_hops_come_from_the_via_relay_apps_each_once():
    apps = [{"preset": "grafana", "options": VIA}, {"format": "env", "options": dict(VIA, relay_port=25)},
            {"preset": "django", "options": dict(VIA, relay_host="relay1.lab.test", relay_port=587)},
            {"preset": "msmtp"}, "gitlab"]
    assert rp.relay_hops(apps) == [{"host": "127.0.0.1", "port": 25, "security": "none"},
                                   {"host": "relay1.lab.test", "port": 587, "security": "starttls"}]
    assert rp.relay_hops(None) == [] and rp.relay_hops([{"preset": "msmtp"}]) == []


@pytest.mark.parametrize("apps, listen, runs", [
    ([{"preset": "grafana", "options": VIA}], None, True),
    ([{"preset": "grafana", "options": dict(VIA, relay_host="localhost")}], None, True),
    ([{"preset": "grafana", "options": dict(VIA, relay_host="relay1")}], None, False),
    ([{"preset": "grafana", "options": dict(VIA, relay_host="relay1")}], "loopback", False),
    (None, ["192.0.2.25"], True),
    ([{"preset": "msmtp"}], None, False),
])
def test_a_host_runs_a_relay_with_a_loopback_app_or_listen_addresses(apps, listen, runs):
    assert rp.runs_relay(apps, listen) is runs


def test_relay_checks_of_a_loopback_relay_and_a_designated_one():
    apps = [{"preset": "grafana", "options": VIA}]
    assert rp.relay_checks(apps, "xoauth2") == {
        "hops": [{"host": "127.0.0.1", "port": 25, "security": "none"}], "runs_relay": True, "upstream": "xoauth2",
        "upstream_check": "xoauth2", "connector_host": None}
    # An application host of a designated relay checks the hop only; the relay host checks the upstream.
    remote = [{"preset": "grafana", "options": dict(VIA, relay_host="198.18.0.10")}]
    assert rp.relay_checks(remote, "xoauth2")["upstream_check"] is None
    assert rp.relay_checks(None, "connector", ["198.18.0.10"], tenant="contoso.com")["connector_host"] == \
        "contoso-com.mail.protection.outlook.com"
    assert rp.relay_checks(None, "connector", ["198.18.0.10"], "mx.lab.test", "contoso.com")["connector_host"] == \
        "mx.lab.test"
    # The relay on the host is Postfix in connector mode (docs/basic-auth-retirement.md): its own MX host.
    here = apps + [{"preset": "postfix", "options": {"mode": "connector", "tenant": "fabrikam.com"}}]
    assert rp.relay_checks(here, "connector")["connector_host"] == "fabrikam-com.mail.protection.outlook.com"
    # No MX host known: the upstream is still to be checked, and the report says it was not.
    assert rp.relay_checks(apps, "connector")["connector_host"] is None
    # Not known: nothing to check, and the report says so.
    assert rp.relay_checks(apps, None)["upstream_check"] is None


@pytest.mark.parametrize("args, words", [
    (([{"preset": "grafana", "options": VIA}], "password"), "must be one of xoauth2, connector, basic"),
    (([{"preset": "grafana", "options": VIA}], "connector", None, None, "contoso com"), "not a valid DNS name"),
    (({"preset": "grafana"}, "xoauth2"), "must be a list"),
])
def test_relay_checks_refuse_what_they_cannot_check(args, words):
    with pytest.raises(rp.RelayPathError, match=words):
        rp.relay_checks(*args)


@pytest.mark.parametrize("app, upstream, cred, profile, path", [
    ({"preset": "grafana", "options": VIA}, "xoauth2", None, "m365", "relay_xoauth2"),
    ({"preset": "grafana", "options": VIA}, "connector", "basic", "m365", "relay_connector"),
    ({"format": "env", "options": VIA}, "basic", None, "m365", "relay_basic"),
    ({"preset": "msmtp", "options": VIA}, None, None, "m365", "relay_unknown"),
    ({"preset": "grafana"}, None, "basic", "m365", "direct_basic"),
    ("grafana", None, None, "m365", "direct_basic"),
    ({"preset": "msmtp"}, None, "oauth2", "m365", "direct_xoauth2"),
    ({"preset": "msmtp"}, None, "basic", "m365", "direct_basic"),
    ({"preset": "msmtp"}, None, None, "m365", "direct_unknown"),
    ({"preset": "msmtp", "smtp": {"mechanism": "xoauth2"}}, None, None, "m365", "direct_xoauth2"),
    ({"preset": "gitlab"}, None, "oauth2", "m365", "direct_graph"),
    ({"preset": "postfix", "options": {"mode": "connector"}}, None, None, "m365", "direct_connector"),
    ({"preset": "postfix"}, None, None, "m365_connector", "direct_connector"),
    ({"preset": "postfix"}, None, "basic", "m365", "direct_basic"),
])
def test_the_path_of_an_app(app, upstream, cred, profile, path):
    assert rp.app_path(app, upstream, cred, profile) == path


def test_every_path_says_whether_it_survives_the_retirement():
    assert {c for c, (_label, survives) in rp.PATHS.items() if survives} == {
        "direct_xoauth2", "direct_graph", "direct_connector", "relay_xoauth2", "relay_connector"}
    assert {c for c, (_label, survives) in rp.PATHS.items() if survives is False} == {"direct_basic", "relay_basic"}
    assert rp.path_label("relay_connector") == "relay \u2192 connector"


@pytest.mark.parametrize("code, kw, works", [
    ("relay_xoauth2", dict(hop_ok=True, upstream_ok=True), True),
    ("relay_xoauth2", dict(hop_ok=False, upstream_ok=True), False),
    ("relay_xoauth2", dict(hop_ok=True, upstream_ok=False), False),
    ("relay_xoauth2", dict(hop_ok=True, upstream_ok=None), None),
    ("relay_connector", dict(hop_ok=False, upstream_ok=None), False),
    ("direct_basic", dict(direct_ok=True, hop_ok=False), True),
    ("direct_connector", dict(direct_ok=False, connector_ok=True), True),
    ("direct_connector", dict(direct_ok=True), None),
])
def test_works_now_needs_every_check_on_the_path(code, kw, works):
    assert rp.path_works_now(code, **kw) is works


def test_the_relay_login_follows_the_upstream():
    oauth = {"type": "oauth2", "username": "relay@contoso.com", "tenant_id": "t", "client_id": "c",
             "client_secret": "s3cret"}
    assert rp.relay_login(oauth, "xoauth2") == {"username": "relay@contoso.com", "mechanism": "xoauth2",
                                                "tenant_id": "t", "client_id": "c", "client_secret": "s3cret"}
    basic = {"type": "basic", "username": "relay@contoso.com", "password": "pw"}
    assert rp.relay_login(basic, "basic") == {"username": "relay@contoso.com", "mechanism": "login", "password": "pw"}
    # A credential of the other type, or none, checks nothing (the report says the login was not checked).
    assert rp.relay_login(basic, "xoauth2") is None and rp.relay_login(oauth, "basic") is None
    assert rp.relay_login(None, "xoauth2") is None and rp.relay_login(oauth, "connector") is None


def test_the_hosts_own_smtp_relay_upstream_makes_it_a_relay_and_wins():
    remote = [{"preset": "grafana", "options": {"mode": "via_relay", "relay_host": "relay1.example.com"}}]
    # mailops_smtp_relay_upstream on an app host names its remote relay's upstream: nothing to check here.
    assert rp.relay_checks(remote, upstream="xoauth2")["upstream_check"] is None
    # Its own smtp_relay_upstream says the host runs a relay too.
    checks = rp.relay_checks(remote, upstream="xoauth2", explicit="basic")
    assert (checks["runs_relay"], checks["upstream_check"]) == (True, "basic")
    with pytest.raises(rp.RelayPathError, match="^smtp_relay_upstream must be one of"):
        rp.relay_checks([], explicit="oauth")
