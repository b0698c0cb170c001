# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Passwords and tokens never show: a -vvv run with both, working and failing, prints neither."""

from __future__ import annotations

import base64
import json

import pytest

from probe_helpers import Round, fetch_token, password_auth, submission_args

WRONG = "Wr0ng-but-secret-Pa55"


def _forms(user: str, secret: str) -> list[str]:
    """The secret and the encodings of it that go over the wire."""
    b64 = base64.b64encode(secret.encode()).decode()
    plain = base64.b64encode(f"\0{user}\0{secret}".encode()).decode()
    xoauth = base64.b64encode(f"user={user}\x01auth=Bearer {secret}\x01\x01".encode()).decode()
    return [secret, b64, plain, xoauth]


@pytest.fixture(scope="module")
def verbose(runner, fleet, standins, lab):
    h1, h2, h3, h4 = fleet["hosts"][:4]
    standins.control.reset()
    token = fetch_token(standins)
    send = {"from": standins.mailbox, "to": ["ops@contoso.com"]}
    rounds = [Round("secrets", {
        h1: submission_args(standins, auth=password_auth(standins), send=send),
        h2: submission_args(standins, auth={"username": standins.mailbox, "access_token": token}),
        h3: submission_args(standins, retries=0, auth=password_auth(standins, password=WRONG)),
        h4: submission_args(standins, auth={"username": standins.mailbox, "access_token": token + "x"}),
    }, reset=False)]
    play = runner.play(rounds, verbosity=3)
    secrets = (_forms(standins.mailbox, standins.password) + _forms(standins.mailbox, WRONG)
               + _forms(standins.mailbox, token) + _forms(standins.mailbox, token + "x"))
    return play, (h1, h2, h3, h4), secrets


def test_cases_ran_as_expected(verbose):
    play, (h1, h2, h3, h4) = verbose[:2]
    assert play.case("secrets", h1)["ok"] is True
    assert play.case("secrets", h2)["ports"]["587"]["auth"]["mechanism"] == "XOAUTH2"
    assert play.case("secrets", h2)["ok"] is True
    assert play.case("secrets", h3)["ports"]["587"]["diagnosis"]["code"] == "auth_failed"
    assert play.case("secrets", h4)["ports"]["587"]["diagnosis"]["code"] == "auth_failed"


def test_vvv_prints_the_raw_module_output(verbose, lab):
    """Otherwise the next test would prove little: -vvv shows what came back over SSH, as it came."""
    play, hosts = verbose[:2]
    for host in hosts:
        ip = lab.host(host)["ip"]
        raw = [line for line in play.stdout.splitlines() if line.startswith(f"<{ip}> (") and '"summary"' in line]
        assert raw, f"no raw module output from {host} in the -vvv output"


def test_no_secret_in_vvv_output(verbose):
    play, secrets = verbose[0], verbose[2]
    for secret in secrets:
        assert secret not in play.stdout
        assert secret not in play.stderr


def test_no_secret_in_registered_results(verbose):
    play, hosts, secrets = verbose
    text = json.dumps(play.results)
    for secret in secrets:
        assert secret not in text
