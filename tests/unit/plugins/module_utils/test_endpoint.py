# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Input checking of the probe: every mistake is an EndpointError with a message, never a traceback."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils.endpoint import EndpointError, build_plan

AUTH = {"username": "svc-mailer@contoso.com", "password": "pw-123456"}


def plan(**params):
    return build_plan(params)


def test_m365_defaults_come_from_the_profile():
    p = plan(profile="m365")
    assert p["host"] == "smtp.office365.com"
    assert [(x["port"], x["security"], x["expect"]) for x in p["ports"]] == [
        (587, "starttls", "open"), (465, "tls", "not_offered")]
    by_port = {x["port"]: x for x in p["ports"]}
    assert by_port[465]["connect_timeout"] < by_port[587]["connect_timeout"] == 5
    assert p["require"] == "any"
    assert p["stop_after"] == "ehlo"
    assert p["min_tls_version"] == "1.2" and p["validate_certs"] is True


def test_int_ports_keep_profile_expectations_and_auto_security():
    p = plan(profile="m365", ports=[465, "587", 2525])
    got = [(x["port"], x["security"], x["expect"]) for x in p["ports"]]
    assert got == [(465, "tls", "not_offered"), (587, "starttls", "open"), (2525, "starttls", "open")]


def test_dict_ports_and_security_map():
    p = plan(profile="custom", host="127.0.0.1",
             ports=[{"port": 2525, "security": "tls", "expect": "not_offered", "connect_timeout": 1}, 587],
             security={"587": "none"})
    got = {x["port"]: (x["security"], x["expect"], x["connect_timeout"]) for x in p["ports"]}
    assert got == {2525: ("tls", "not_offered", 1.0), 587: ("none", "open", 5.0)}


def test_stop_after_auto_follows_auth_and_send():
    assert plan(auth=AUTH)["stop_after"] == "auth"
    assert plan(auth=AUTH, send={"from": "a@b.c", "to": ["d@e.f"]})["stop_after"] == "send"


@pytest.mark.parametrize("params,fragment", [
    ({"ports": [0]}, "outside 1-65535"),
    ({"ports": [70000]}, "outside 1-65535"),
    ({"ports": ["587x"]}, "'587x' is not a port number"),
    ({"ports": [True]}, "not a port number"),
    ({"ports": [587, 587]}, "listed twice"),
    ({"ports": [{"security": "tls"}]}, "needs a 'port' key"),
    ({"ports": [{"port": 587, "tls": True}]}, "unknown key(s) tls"),
    ({"ports": [{"port": 587, "expect": "closed"}]}, "open or not_offered"),
    ({"security": "ssl"}, "security must be auto"),
    ({"security": {"2525": "tls"}}, "not in ports"),
    ({"require": [2525]}, "not probed"),
    ({"require": "most"}, "require must be apps_port, any, all or a list of ports"),
    ({"auth": {"username": "u@c.com", "password": "p", "access_token": "t"}}, "not both"),
    ({"auth": {"username": "u@c.com"}}, "give password"),
    ({"auth": {"username": "u@c.com", "password": "p", "mechanism": "xoauth2"}}, "needs access_token"),
    ({"auth": {"username": "u@c.com", "access_token": "t", "mechanism": "login"}}, "needs password"),
    ({"send": {"from": "a@b.c", "to": ["d@e.f"]}}, "send needs auth"),
    ({"helo": "evil\r\nMAIL FROM:<x>"}, "helo must not contain CR, LF or NUL"),
    ({"helo": "two words"}, "without spaces"),
    ({"auth": {"username": "u@c.com\nRSET", "password": "p"}}, "auth.username must not contain"),
    ({"auth": AUTH, "send": {"from": "a@b.c\r\nRCPT TO:<x@y>", "to": ["d@e.f"]}}, "send.from must not"),
    ({"auth": AUTH, "send": {"from": "a@b.c", "to": ["d@e.f\x00"]}}, "send.to must not"),
    ({"auth": AUTH, "send": {"from": "a@b.c", "to": []}}, "at least one"),
    ({"timeout": 0}, "between 0 and 300"),
    ({"timeout": "soon"}, "number of seconds"),
    ({"retries": 9}, "from 0 to 5"),
    ({"min_tls_version": "1.4"}, "min_tls_version"),
    ({"stop_after": "auth"}, "needs auth"),
    ({"profile": "gmail"}, "unknown profile"),
    ({"profile": "m365_connector"}, "contoso-com.mail.protection.outlook.com"),
    ({"profile": "custom"}, "give host"),
    ({"host": "smtp.office365.com\r\n"}, "host must not contain"),
    ({"client_key": "/k.pem"}, "client_key needs client_cert"),
    ({"profile": "custom", "host": "h", "check_oauth_endpoint": True}, "no OAuth token authority"),
    ({"profile": "custom", "host": "h", "security": "none", "auth": AUTH}, "auth needs TLS"),
    ({"connector_host": "bad host"}, "connector_host: host 'bad host' is not a host name"),
    ({"profile": "m365_connector", "host": "contoso-com.mail.protection.outlook.com",
      "connector_host": "contoso-com.mail.protection.outlook.com"}, "m365_connector already"),
    ({"endpoint": ["m365"]}, "endpoint must be a profile name or a dict"),
    ({"endpoint": {"profile": "m365", "port": 587}}, "endpoint: unknown key(s) port"),
    ({"endpoint": {"profile": ""}}, "endpoint: profile must be a profile name"),
    ({"endpoint": ""}, "endpoint: profile must be a profile name"),
    ({"endpoint": "gmail"}, "unknown profile"),
    ({"endpoint": "m365", "host": "smtp.example.com"}, "either endpoint or host and ports"),
    ({"endpoint": {"profile": "custom", "host": "h"}, "ports": [25]}, "either endpoint or host and ports"),
    ({"endpoint": "custom"}, "give host"),
    ({"endpoint": {"profile": "custom", "host": "h"}, "check_oauth_endpoint": True}, "no OAuth token authority"),
    ({"endpoint": {"profile": "m365_connector", "host": "contoso-com.mail.protection.outlook.com"},
      "check_oauth_endpoint": True}, "no OAuth token authority"),
])
def test_bad_input_is_rejected_with_a_clear_message(params, fragment):
    with pytest.raises(EndpointError) as err:
        build_plan(params)
    assert fragment in str(err.value)


@pytest.mark.parametrize("endpoint,separate", [
    ("m365_gcc_high", {"profile": "m365_gcc_high"}),
    ({"ports": [587]}, {"profile": "m365", "ports": [587]}),
    ({"profile": "custom", "host": "relay.example.com", "ports": [{"port": 2525, "security": "tls"}]},
     {"profile": "custom", "host": "relay.example.com", "ports": [{"port": 2525, "security": "tls"}]}),
])
def test_endpoint_is_the_same_plan_as_profile_host_and_ports(endpoint, separate):
    # The module fills in profile's default (m365) before build_plan sees it; endpoint still wins.
    assert build_plan({"endpoint": endpoint, "profile": "m365"}) == build_plan(separate)


def test_connector_host_is_a_plan_of_its_own_with_the_same_tls_settings():
    p = plan(profile="m365", connector_host="contoso-com.mail.protection.outlook.com", ca_path="/ca.pem",
             timeout=7, retries=1, check_oauth_endpoint=True, auth=AUTH)
    conn = p["connector"]
    assert conn["profile"] == "m365_connector" and conn["host"] == "contoso-com.mail.protection.outlook.com"
    assert [x["port"] for x in conn["ports"]] == [25]
    assert (conn["ca_path"], conn["timeout"], conn["retries"]) == ("/ca.pem", 7.0, 1)
    # Never a login, a message or a token endpoint check on the connector path.
    assert conn["auth"] is None and conn["send"] is None and conn["oauth_authority"] is None
    assert conn["stop_after"] == "ehlo" and conn["connector"] is None
    assert plan(profile="m365")["connector"] is None


def test_endpoint_profile_gives_the_token_authority():
    got = build_plan({"endpoint": {"profile": "m365_gcc_high"}, "profile": "m365", "check_oauth_endpoint": True})
    assert got["oauth_authority"] == build_plan({"profile": "m365_gcc_high", "check_oauth_endpoint": True})["oauth_authority"]
    assert got["oauth_authority"] != build_plan({"profile": "m365", "check_oauth_endpoint": True})["oauth_authority"]


def test_password_never_appears_in_errors():
    with pytest.raises(EndpointError) as err:
        build_plan({"auth": {"username": "u@c.com", "password": "hunter2-secret", "access_token": "tok-secret"}})
    assert "hunter2-secret" not in str(err.value) and "tok-secret" not in str(err.value)


def test_require_list_and_oauth_authority():
    p = plan(profile="m365", require=["587"], check_oauth_endpoint=True)
    assert p["require"] == [587]
    assert p["oauth_authority"] == "https://login.microsoftonline.com"
    assert plan(profile="m365_gcc_high", check_oauth_endpoint=True)["oauth_authority"] == \
        "https://login.microsoftonline.us"


def test_connector_may_send_without_auth_but_never_authenticates():
    # A connector relays by source address or client certificate: sending is its only check.
    p = plan(profile="m365_connector", host="contoso-com.mail.protection.outlook.com",
             send={"from": "app@contoso.com", "to": ["ops@contoso.com"]})
    assert p["stop_after"] == "send" and not p["auth"]
    with pytest.raises(EndpointError, match="stop_after: auth needs auth"):
        plan(profile="m365_connector", host="contoso-com.mail.protection.outlook.com", stop_after="auth")
    with pytest.raises(EndpointError, match="only the m365_connector profile relays without auth"):
        plan(send={"from": "a@b.c", "to": ["d@e.f"]})
