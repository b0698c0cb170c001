# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-mailbox sending limits as Microsoft Learn documents them (m365-facts.md).

30 messages a minute: the excess is *not refused*; it is "throttled and successively carried
over to the following minutes", so the stand-in accepts it and records the minute it is
delivered in. 10,000 recipients a day: beyond that, `554 5.2.0 ...SubmissionQuotaExceeded`
refuses the message (and blocks the mailbox for up to a day). `minute_seconds` scales the clock.
"""

from __future__ import annotations

import smtplib
import time

from standins_client import message, submission


def _send(client, standins, to=None):
    to = to or [standins.mailbox]
    return client.send_message(message(standins.mailbox, ", ".join(to)), to_addrs=to)


def _mine(standins):
    return [m for m in standins.control.messages() if m["auth_identity"] == standins.mailbox]


def test_messages_over_the_minute_rate_are_accepted_and_carried_over(standins):
    ctl = standins.control
    ctl.set_mailbox(standins.mailbox, messages_per_minute=3)
    ctl.set_clock(minute_seconds=30)  # long enough that the 8 messages share one minute
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        for _n in range(8):
            assert _send(client, standins) == {}  # every one accepted: no 554, no 4xx
    got = _mine(standins)
    assert len(got) == 8
    minutes = [m["delivery"]["delivery_minute"] - m["delivery"]["submitted_minute"] for m in got]
    assert minutes == [0, 0, 0, 1, 1, 1, 2, 2]
    assert [m["delayed"] for m in got] == [False] * 3 + [True] * 5
    assert got[-1]["delivery"]["delay_seconds"] == 60.0
    counters = ctl.mailbox_counters(standins.mailbox)
    assert counters["messages"] == 8 and counters["messages_delayed"] == 5
    assert counters["messages_refused_quota"] == 0


def test_default_rate_is_30_a_minute(standins):
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        for _n in range(31):
            _send(client, standins)
    got = _mine(standins)
    assert [m["delayed"] for m in got] == [False] * 30 + [True]


def test_the_scaled_minute_frees_the_rate_again(standins):
    ctl = standins.control
    ctl.set_mailbox(standins.mailbox, messages_per_minute=2)
    ctl.set_clock(minute_seconds=0.5)
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        for _n in range(2):
            _send(client, standins)
        time.sleep(0.6)  # the next scaled minute
        _send(client, standins)
    assert [m["delayed"] for m in _mine(standins)] == [False, False, False]


def test_recipients_over_the_daily_limit_get_554_5_2_0_and_block_the_mailbox(standins):
    ctl = standins.control
    ctl.set_mailbox(standins.mailbox, recipients_per_day=5)
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        _send(client, standins, to=[f"r{i}@fabrikam.example" for i in range(4)])
        try:
            _send(client, standins, to=["a@fabrikam.example", "b@fabrikam.example"])
            raise AssertionError("the 6th recipient of the day was accepted")
        except smtplib.SMTPDataError as err:
            assert err.smtp_code == 554
            assert b"5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException" in err.smtp_error
        # Blocked for the day, even for a message within what would be left.
        try:
            _send(client, standins)
            raise AssertionError("a blocked mailbox sent")
        except smtplib.SMTPDataError as err:
            assert err.smtp_code == 554
    counters = ctl.mailbox_counters(standins.mailbox)
    assert counters["messages"] == 1 and counters["messages_refused_quota"] == 2


def test_the_daily_block_ends_with_the_scaled_day(standins):
    ctl = standins.control
    ctl.set_mailbox(standins.mailbox, recipients_per_day=1)
    ctl.set_clock(minute_seconds=0.001)  # a day of 1440 minutes is 1.44 s
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        assert _send(client, standins) == {}
        try:
            _send(client, standins)
            raise AssertionError("the 2nd recipient of the day was accepted")
        except smtplib.SMTPDataError as err:
            assert err.smtp_code == 554
        time.sleep(1.6)
        assert _send(client, standins) == {}
