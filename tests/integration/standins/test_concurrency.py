# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-mailbox limit of 3 connections *sending* at the same time.

Microsoft Learn ("Message storage and concurrent connection throttling for SMTP Authenticated
Submission"): a mailbox's connections beyond three that send at once each get
`432 4.3.2 Concurrent connections limit exceeded.`, which client logs show after the message
body. Logins alone are not limited; the old, stricter model is the fault concurrency_at_auth.
"""

from __future__ import annotations

import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor

from standins_client import submission, wait_for

BODY = b"From: {0}\r\nTo: {0}\r\nSubject: concurrency\r\n\r\nhello\r\n.\r\n"


def _open_sessions(standins, count: int, mailbox=None, password=None):
    """Open `count` sessions at once; each tries to AUTH. Returns (clients, AUTH codes)."""
    barrier = threading.Barrier(count, timeout=10)

    def one(_index):
        client = submission(standins)
        barrier.wait()
        try:
            return client, client.login(mailbox or standins.mailbox, password or standins.password)[0]
        except smtplib.SMTPAuthenticationError as err:
            return client, (err.smtp_code, err.smtp_error)

    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(one, range(count)))
    return [c for c, _code in results], [r for _client, r in results]


def _close_all(clients):
    for client in clients:
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()


def _start_message(client, mailbox: str) -> None:
    """MAIL, RCPT and DATA: the session is now sending, its body not yet ended."""
    assert client.mail(mailbox)[0] == 250
    assert client.rcpt(mailbox)[0] == 250
    assert client.docmd("DATA")[0] == 354


def _end_message(client, mailbox: str):
    client.send(BODY.replace(b"{0}", mailbox.encode()))
    return client.getreply()


def test_four_logins_without_sending_are_all_accepted(standins):
    clients, outcomes = _open_sessions(standins, 4)
    try:
        assert outcomes == [235, 235, 235, 235]
        counters = standins.control.mailbox_counters(standins.mailbox)
        assert counters["peak_concurrent"] == 4 and counters["auth_rejected_concurrency"] == 0
    finally:
        _close_all(clients)


def test_fourth_sending_connection_gets_432_after_its_body(standins):
    box = standins.mailbox
    clients, outcomes = _open_sessions(standins, 4)
    try:
        assert outcomes == [235, 235, 235, 235]
        first, fourth = clients[:3], clients[3]
        for client in first:
            _start_message(client, box)
        # MAIL, RCPT and DATA of the 4th are accepted: the refusal comes after the body.
        _start_message(fourth, box)
        code, text = _end_message(fourth, box)
        assert code == 432 and text.startswith(b"4.3.2 Concurrent connections limit exceeded."), text
        counters = standins.control.mailbox_counters(box)
        assert counters["send_rejected_concurrency"] == 1 and counters["peak_sending"] == 4
        assert counters["auth_rejected_concurrency"] == 0
        for client in first:
            assert _end_message(client, box)[0] == 250
        # The three are done: the refused session sends on the same connection.
        _start_message(fourth, box)
        assert _end_message(fourth, box)[0] == 250
        counters = standins.control.mailbox_counters(box)
        assert counters["messages"] == 4 and counters["sending"] == 0
    finally:
        _close_all(clients)
    assert wait_for(lambda: standins.control.mailbox_counters(box)["current"] == 0)


def test_a_reset_transaction_stops_counting_as_sending(standins):
    box = standins.mailbox
    clients, _outcomes = _open_sessions(standins, 4)
    try:
        for client in clients[:3]:
            assert client.mail(box)[0] == 250
        assert standins.control.mailbox_counters(box)["sending"] == 3
        assert clients[0].rset()[0] == 250
        assert standins.control.mailbox_counters(box)["sending"] == 2
        _start_message(clients[3], box)
        assert _end_message(clients[3], box)[0] == 250
    finally:
        _close_all(clients)


def test_fault_concurrency_at_auth_refuses_the_fourth_login(standins):
    standins.control.set_fault("concurrency_at_auth")
    clients, outcomes = _open_sessions(standins, 4)
    try:
        assert sorted(o for o in outcomes if o == 235) == [235, 235, 235]
        refused = [o for o in outcomes if o != 235]
        assert len(refused) == 1
        code, text = refused[0]
        assert code == 432 and b"4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded" in text
        counters = standins.control.mailbox_counters(standins.mailbox)
        assert counters["peak_concurrent"] == 3
        assert counters["auth_rejected_concurrency"] == 1
        assert counters["current"] == 3 and counters["connections"] == 3
    finally:
        _close_all(clients)
    assert wait_for(lambda: standins.control.mailbox_counters(standins.mailbox)["current"] == 0)
    # Once the others closed, a new session authenticates again.
    with submission(standins) as client:
        assert client.login(standins.mailbox, standins.password)[0] == 235


def test_limit_is_per_mailbox(standins):
    clients, outcomes = _open_sessions(standins, 3)
    try:
        assert outcomes == [235, 235, 235]
        for client in clients:
            _start_message(client, standins.mailbox)
        with submission(standins) as other:
            assert other.login(standins.other_mailbox, standins.other_password)[0] == 235
            _start_message(other, standins.other_mailbox)
            assert _end_message(other, standins.other_mailbox)[0] == 250
        for client in clients:
            assert _end_message(client, standins.mailbox)[0] == 250
    finally:
        _close_all(clients)


def test_limit_can_be_switched_off(standins):
    standins.control.set_concurrency_limit(None)
    clients, outcomes = _open_sessions(standins, 4)
    try:
        assert outcomes == [235, 235, 235, 235]
        for client in clients:
            _start_message(client, standins.mailbox)
        assert [_end_message(c, standins.mailbox)[0] for c in clients] == [250, 250, 250, 250]
        assert standins.control.mailbox_counters(standins.mailbox)["peak_sending"] == 4
    finally:
        _close_all(clients)
