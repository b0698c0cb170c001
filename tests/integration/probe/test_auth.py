# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication, sending and the connector path, probed from lab hosts against the stand-ins.

One play: each round sets the stand-ins up for its cases, and the cases of a round run on
different hosts at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probe_helpers import FAST, Round, diag, fetch_token, password_auth, stage, submission_args


def _connector_hosts(lab, fleet):
    """(a host the connector does not know by IP, a second such host, a host it relays for by IP)."""
    cfg = json.loads(Path(lab.state["standins"]["config"]).read_text())
    allowed = set(cfg["connector"]["allowed_sources"])
    unknown = [h for h in fleet["hosts"] if lab.host(h)["ip"] not in allowed]
    known = [h for h in fleet["hosts"] if lab.host(h)["ip"] in allowed]
    assert len(unknown) >= 2 and known, "the lab's connector must allow one host by IP and not the others"
    return unknown[0], unknown[1], known[0]


@pytest.fixture(scope="module")
def auth(runner, lab, fleet, standins):
    h1, h2, h3, h4, h5 = fleet["hosts"][:5]
    # A reset forgets issued tokens: the rounds that use this one undo their changes instead.
    standins.control.reset()
    token = fetch_token(standins)
    mbx = standins.mailbox
    oauth = {"username": mbx, "access_token": token}
    send_self = {"from": mbx, "to": ["ops@contoso.com"], "subject": "probe test"}
    cert_host, denied_host, ip_host = _connector_hosts(lab, fleet)
    pki = lab.state["pki"]["client"]
    connector = {"profile": "m365_connector", "host": standins.connector_addr[0], "ca_path": standins.ca,
                 "send": {"from": "app@contoso.com", "to": ["ops@contoso.com"]}, "retries": 0, **FAST}
    rounds = [
        Round("credentials", {
            h1: submission_args(standins, retries=0, auth=password_auth(standins, password="not-the-password")),
            h2: submission_args(standins, auth=password_auth(standins, mechanism="plain")),
            # The second mailbox has no SendAs right on the first.
            h3: submission_args(standins, auth=password_auth(standins, standins.other_mailbox,
                                                             standins.other_password),
                                send={"from": mbx, "to": ["ops@contoso.com"]}),
            h4: submission_args(standins, auth=oauth, send=send_self),
        }, reset=False),
        Round("smtp_auth_disabled", {
            h1: submission_args(standins, auth=password_auth(standins)),
            h2: submission_args(standins, auth=oauth),
        }, control=[("set_mailbox", {"address": mbx, "smtp_auth_disabled": True})], reset=False),
        Round("basic_auth_retired", {
            h1: submission_args(standins, auth=password_auth(standins)),
            h2: submission_args(standins, auth=oauth),
        }, control=[("set_mailbox", {"address": mbx, "smtp_auth_disabled": False, "basic_auth_retired": True})],
            reset=False),
        Round("check_mode", {h5: submission_args(standins, auth=password_auth(standins), send=send_self)},
              check_mode=True),
        Round("connector", {
            cert_host: dict(connector, client_cert=pki["cert"], client_key=pki["key"]),
            denied_host: connector,
            ip_host: connector,
        }),
    ]
    play = runner.play(rounds)
    return {"play": play, "hosts": (h1, h2, h3, h4, h5), "connector": (cert_host, denied_host, ip_host),
            "lab": lab}


def test_wrong_password_is_auth_failed(auth, standins):
    play = auth["play"]
    r = play.case("credentials", auth["hosts"][0])
    assert diag(r, 587) == "auth_failed"
    port = r["ports"]["587"]
    assert port["auth"]["mechanism"] == "LOGIN" and port["auth"]["ok"] is False
    assert port["auth"]["reply"].startswith("535 5.7.3")
    assert play.counters("credentials")["mailboxes"][standins.mailbox]["auth_fail"] == 1


def test_plain_forced_against_m365_is_auth_mechanism_unsupported(auth):
    r = auth["play"].case("credentials", auth["hosts"][1])
    assert diag(r, 587) == "auth_mechanism_unsupported"
    # Refused locally from the EHLO offer: no credential went out.
    assert r["ports"]["587"]["auth"] is None
    assert "PLAIN" in stage(r, 587, "auth")["detail"]


def test_foreign_from_is_send_as_denied(auth, standins):
    play = auth["play"]
    r = play.case("credentials", auth["hosts"][2])
    assert r["ports"]["587"]["auth"]["ok"] is True
    assert diag(r, 587) == "send_as_denied"
    assert stage(r, 587, "send")["ok"] is False
    assert not [m for m in play.messages("credentials") if m["auth_identity"] == standins.other_mailbox]


def test_xoauth2_token_from_entra_is_ok_and_sends(auth, standins):
    play = auth["play"]
    r = play.case("credentials", auth["hosts"][3])
    assert r["ok"] is True, r["summary"]
    assert r["ports"]["587"]["auth"]["mechanism"] == "XOAUTH2"
    assert r["ports"]["587"]["auth"]["reply"].startswith("235 2.7.0")
    sent = [m for m in play.messages("credentials") if m["auth_mechanism"] == "XOAUTH2"]
    assert len(sent) == 1 and sent[0]["auth_identity"] == standins.mailbox
    assert sent[0]["peer"][0] == auth["lab"].host(auth["hosts"][3])["ip"]


def test_smtp_auth_disabled_is_auth_disabled_for_password_and_token(auth):
    play = auth["play"]
    for host in auth["hosts"][:2]:
        r = play.case("smtp_auth_disabled", host)
        assert diag(r, 587) == "auth_disabled", r["summary"]
        assert "5.7.139" in r["ports"]["587"]["auth"]["reply"]


def test_basic_auth_retired_leaves_xoauth2_working(auth):
    play = auth["play"]
    r = play.case("basic_auth_retired", auth["hosts"][0])
    assert diag(r, 587) == "basic_auth_retired"
    assert r["ports"]["587"]["auth"]["reply"].startswith("550 5.7.30")
    oauth = play.case("basic_auth_retired", auth["hosts"][1])
    assert oauth["ok"] is True and oauth["ports"]["587"]["auth"]["mechanism"] == "XOAUTH2"


def test_check_mode_skips_send(auth, standins):
    play = auth["play"]
    r = play.case("check_mode", auth["hosts"][4])
    assert r["ok"] is True and r["changed"] is False
    assert stage(r, 587, "auth")["ok"] is True
    assert stage(r, 587, "send")["detail"].startswith("skipped")
    assert play.messages("check_mode") == []
    assert play.counters("check_mode")["mailboxes"][standins.mailbox]["auth_ok"] == 1


def test_connector_relays_for_a_client_certificate(auth):
    play = auth["play"]
    cert_host = auth["connector"][0]
    r = play.case("connector", cert_host)
    assert r["ok"] is True, r["summary"]
    assert stage(r, 25, "send")["ok"] is True
    ip = auth["lab"].host(cert_host)["ip"]
    mine = [m for m in play.messages("connector") if m["peer"][0] == ip]
    assert len(mine) == 1 and mine[0]["auth_mechanism"] == "certificate"


def test_connector_denies_an_unknown_host_without_certificate(auth):
    play = auth["play"]
    denied = auth["connector"][1]
    r = play.case("connector", denied)
    assert r["ok"] is False
    assert diag(r, 25) == "relay_denied"
    assert "5.7.64" in stage(r, 25, "send")["detail"]
    ip = auth["lab"].host(denied)["ip"]
    assert not [m for m in play.messages("connector") if m["peer"][0] == ip]


def test_connector_relays_for_a_known_source_ip(auth):
    play = auth["play"]
    r = play.case("connector", auth["connector"][2])
    assert r["ok"] is True, r["summary"]
    ip = auth["lab"].host(auth["connector"][2])["ip"]
    mine = [m for m in play.messages("connector") if m["peer"][0] == ip]
    assert len(mine) == 1 and mine[0]["auth_mechanism"] == "ip"
