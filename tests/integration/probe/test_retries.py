# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Retries: transient replies (421, 432, 451) are retried as often as `retries` allows, no more,
counted by the stand-ins; the concurrency limit of a mailbox (connections sending at once, 432
after the message body), held by the test itself.

A silent drop is never retried: see test_network.py (SYNs counted on the host).
"""

from __future__ import annotations

import time

import pytest

from probe_helpers import HeldSessions, Round, diag, password_auth, stage, submission_args


@pytest.fixture(scope="module")
def transient(runner, fleet, standins):
    host = fleet["hosts"][0]
    throttle = [("set_fault", {"name": "throttle", "stage": "banner"})]
    rounds = [
        Round("451_retries_2", {host: submission_args(standins, retries=2)}, control=throttle),
        Round("451_retries_0", {host: submission_args(standins, retries=0)}, control=throttle),
        Round("421_retries_1", {host: submission_args(standins, retries=1)},
              control=[("set_fault", {"name": "banner_421"})]),
    ]
    return runner.play(rounds), host


@pytest.mark.parametrize("name, attempts, reply", [
    ("451_retries_2", 3, "451 4.7.500"),
    ("451_retries_0", 1, "451 4.7.500"),
    ("421_retries_1", 2, "421 4.3.2"),
])
def test_transient_banner_reply_is_retried_exactly_as_allowed(transient, name, attempts, reply):
    play, host = transient
    r = play.case(name, host)
    assert r["ok"] is False
    assert diag(r, 587) == "temporary_failure"
    assert stage(r, 587, "banner")["detail"].startswith(reply)
    assert play.counters(name)["ports"]["smtp:587"] == attempts


def _send_self(standins) -> dict:
    return {"from": standins.mailbox, "to": [standins.mailbox]}


def test_fourth_sending_connection_gets_432_after_data_and_is_concurrency_limit(runner, fleet, standins):
    # Microsoft 365 limits connections *sending* at once: the probe logs in fine, and its
    # message gets 432 4.3.2 after the body while three others are mid-message.
    host = fleet["hosts"][1]
    held = HeldSessions(standins, 3)
    try:
        play = runner.play([Round("held", {host: submission_args(
            standins, retries=1, auth=password_auth(standins), send=_send_self(standins))}, reset=False)])
    finally:
        held.close()
    r = play.case("held", host)
    assert diag(r, 587) == "concurrency_limit"
    assert r["ports"]["587"]["auth"]["reply"].startswith("235")
    assert stage(r, 587, "send")["detail"].startswith("432 4.3.2 Concurrent connections limit exceeded")
    counted = play.counters("held")["mailboxes"][standins.mailbox]
    assert counted["send_rejected_concurrency"] == 2  # the first try and one retry
    assert counted["auth_ok"] == 2 and counted["auth_rejected_concurrency"] == 0
    assert counted["messages"] == 0


def test_fourth_login_is_concurrency_limit_under_the_auth_time_fault(runner, fleet, standins):
    # The older, stricter behaviour (432 ... sender thread limit exceeded at AUTH) is still
    # recognised, from the fault concurrency_at_auth.
    host = fleet["hosts"][1]
    standins.control.set_fault("concurrency_at_auth")
    held = HeldSessions(standins, 3, sending=False)
    try:
        play = runner.play([Round("held_auth", {host: submission_args(
            standins, retries=0, auth=password_auth(standins))}, reset=False)])
    finally:
        held.close()
        standins.control.clear_faults()
    r = play.case("held_auth", host)
    assert diag(r, 587) == "concurrency_limit"
    assert r["ports"]["587"]["auth"]["reply"].startswith("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit")
    assert play.counters("held_auth")["mailboxes"][standins.mailbox]["auth_rejected_concurrency"] == 1


def test_concurrency_limit_twice_then_free_succeeds_on_the_third_attempt(runner, fleet, standins):
    host = fleet["hosts"][2]
    held = HeldSessions(standins, 3)
    try:
        thread, box = runner.play_in_background(
            [Round("freed", {host: submission_args(standins, retries=2, auth=password_auth(standins),
                                                   send=_send_self(standins))}, reset=False)])
        # Free the mailbox once the stand-in has refused two messages; the backoff before the
        # third (at least a second) leaves time to close the held sessions.
        deadline = time.monotonic() + 120
        while standins.control.mailbox_counters(standins.mailbox)["send_rejected_concurrency"] < 2:
            assert thread.is_alive(), "the probe ended before the stand-in refused it twice"
            assert time.monotonic() < deadline, "the stand-in never refused the probe twice"
            time.sleep(0.02)
    finally:
        held.close()
    thread.join(300)
    assert "error" not in box and "result" in box, box.get("error")
    play = box["result"]
    assert play.rc == 0, play.stdout[-3000:]
    r = play.case("freed", host)
    assert r["ok"] is True, r["summary"]
    assert stage(r, 587, "send")["detail"].startswith("250 2.0.0 OK")
    assert "after 2 retries" in stage(r, 587, "connect")["detail"]
    counted = play.counters("freed")["mailboxes"][standins.mailbox]
    assert counted["send_rejected_concurrency"] == 2
    assert counted["auth_ok"] == 3 and counted["messages"] == 1
