# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe on the host with the oldest target Python (3.9; 3.8 in the ansible-core 2.19 pass).

The 2.19 pass runs only these tests (`-m compat`) against `inventory-219.yml`.
"""

from __future__ import annotations

import pytest

from probe_helpers import FAST, Round, diag, fetch_token, password_auth, stage, submission_args

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def old(runner, lab, fleet, standins):
    host = fleet["old"]
    standins.control.reset()
    token = fetch_token(standins)
    send = {"from": standins.mailbox, "to": ["ops@contoso.com"], "subject": "from the old Python"}
    pki = lab.state["pki"]["client"]
    rounds = [
        Round("xoauth2", {host: submission_args(standins, auth={"username": standins.mailbox,
                                                                "access_token": token})}, reset=False),
        Round("m365", {host: {"profile": "m365", "ca_path": standins.ca, "auth": password_auth(standins),
                              "send": send, **FAST}}),
        Round("masked", {host: submission_args(standins)}, control=[("set_fault", {"name": "starttls_masked"})]),
        Round("legacy", {host: submission_args(standins, min_tls_version="1.0")},
              control=[("set_fault", {"name": "legacy_tls"})]),
        Round("untrusted", {host: submission_args(standins)},
              control=[("set_fault", {"name": "bad_cert", "kind": "untrusted"})]),
        Round("connector", {host: {"profile": "m365_connector", "host": standins.connector_addr[0],
                                   "ca_path": standins.ca, "client_cert": pki["cert"], "client_key": pki["key"],
                                   "send": {"from": "app@contoso.com", "to": ["ops@contoso.com"]}, **FAST}}),
    ]
    return runner.play(rounds), host, lab.host(host)["ip"]


def test_old_python_runs_the_m365_profile_with_auth_and_send(old, standins):
    play, host, ip = old
    r = play.case("m365", host)
    assert r["ok"] is True, r["summary"]
    assert r["ports"]["587"]["auth"]["mechanism"] == "LOGIN"
    assert diag(r, 465) == "port_not_offered"
    sent = play.messages("m365")
    assert len(sent) == 1 and sent[0]["peer"][0] == ip and sent[0]["auth_identity"] == standins.mailbox


def test_old_python_xoauth2(old):
    play, host = old[:2]
    r = play.case("xoauth2", host)
    assert r["ok"] is True, r["summary"]
    assert r["ports"]["587"]["auth"]["mechanism"] == "XOAUTH2"


def test_old_python_masked_starttls(old):
    play, host = old[:2]
    r = play.case("masked", host)
    assert diag(r, 587) == "starttls_missing"
    assert "XXXXXXXA" in stage(r, 587, "starttls")["detail"]


def test_old_python_legacy_tls_is_tls_version_rejected(old):
    play, host = old[:2]
    r = play.case("legacy", host)
    assert diag(r, 587) == "tls_version_rejected"
    assert r["ports"]["587"]["tls"]["version"] == "TLSv1"


def test_old_python_reads_the_untrusted_certificate(old):
    play, host = old[:2]
    r = play.case("untrusted", host)
    assert diag(r, 587) == "cert_untrusted"
    cert = r["ports"]["587"]["tls"]["cert"]
    assert cert["chain_trusted"] is False and cert["subject"] and cert["not_after"]


def test_old_python_connector_with_client_certificate(old):
    play, host, ip = old
    r = play.case("connector", host)
    assert r["ok"] is True, r["summary"]
    mine = [m for m in play.messages("connector") if m["peer"][0] == ip]
    assert len(mine) == 1 and mine[0]["auth_mechanism"] == "certificate"
