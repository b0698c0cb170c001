# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-mailbox limit of 3 concurrent authenticated sessions (432 4.3.2 on the 4th)."""

from __future__ import annotations

import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor

from standins_client import submission, wait_for


def _open_sessions(standins, count: int):
    """Open `count` sessions at once; each tries to AUTH. Returns (clients, AUTH codes)."""
    barrier = threading.Barrier(count, timeout=10)

    def one(_index):
        client = submission(standins)
        barrier.wait()
        try:
            return client, client.login(standins.mailbox, standins.password)[0]
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


def test_fourth_concurrent_session_gets_432(standins):
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
        with submission(standins) as other:
            assert other.login(standins.other_mailbox, standins.other_password)[0] == 235
        assert outcomes == [235, 235, 235]
    finally:
        _close_all(clients)


def test_limit_can_be_switched_off(standins):
    standins.control.set_concurrency_limit(None)
    clients, outcomes = _open_sessions(standins, 4)
    try:
        assert outcomes == [235, 235, 235, 235]
        assert standins.control.mailbox_counters(standins.mailbox)["peak_concurrent"] == 4
    finally:
        _close_all(clients)
