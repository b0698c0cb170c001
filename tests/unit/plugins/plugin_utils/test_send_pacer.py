# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-mailbox pacing of test messages: a fake clock for the rule, real processes for the lock."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils._send_pacer import WINDOW, PacerError, SendPacer


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def pacer(tmp_path, clock, per_minute=3, mailbox="svc@contoso.com"):
    return SendPacer(str(tmp_path), mailbox, per_minute, clock=clock, sleep=clock.sleep)


def test_the_limit_holds_and_the_next_send_waits_a_minute_after_the_first_finished(tmp_path):
    clock = Clock()
    starts = []
    for _attempt in range(5):
        p = pacer(tmp_path, clock)
        slot = p.acquire(timeout=600)
        starts.append(clock.now)
        clock.now += 2.0          # the probe takes 2 s
        p.release(slot)
    assert starts[:3] == [1000.0, 1002.0, 1004.0]
    # The 4th waits until 60 s after the 1st finished; the 5th, after the 2nd.
    assert starts[3] == pytest.approx(1002.0 + WINDOW, abs=0.1)
    assert starts[4] == pytest.approx(1004.0 + WINDOW, abs=0.1)


def test_sends_in_flight_count_too(tmp_path):
    clock = Clock()
    held = [pacer(tmp_path, clock).acquire(timeout=600) for _slot in range(3)]
    assert len(held) == 3
    with pytest.raises(PacerError, match="no slot for a test message within 5 s: 3 messages a minute"):
        pacer(tmp_path, clock).acquire(timeout=5)


def test_mailboxes_are_paced_apart_and_the_file_does_not_name_them(tmp_path):
    clock = Clock()
    for _attempt in range(3):
        pacer(tmp_path, clock, mailbox="a@contoso.com").acquire(timeout=1)
    # Another mailbox has its own budget.
    assert pacer(tmp_path, clock, mailbox="b@contoso.com").acquire(timeout=1)
    files = os.listdir(tmp_path)
    assert len(files) == 2 and not any("contoso" in f for f in files)
    for f in files:
        assert stat.S_IMODE(os.stat(tmp_path / f).st_mode) == 0o600
        assert "contoso" not in (tmp_path / f).read_text()


def test_a_slot_whose_worker_died_is_forgotten(tmp_path):
    clock = Clock()
    for _attempt in range(3):
        pacer(tmp_path, clock).acquire(timeout=1)   # never released
    clock.now += 601
    assert pacer(tmp_path, clock).acquire(timeout=1)


def test_a_torn_file_starts_afresh(tmp_path):
    clock = Clock()
    p = pacer(tmp_path, clock)
    with open(p.path, "w") as fh:
        fh.write('[{"id": "x", "sta')
    assert p.acquire(timeout=1)


@pytest.mark.parametrize("bad", [0, -1, True, "3", 2.5])
def test_the_rate_must_be_a_whole_number(tmp_path, bad):
    with pytest.raises(PacerError, match="at least 1"):
        SendPacer(str(tmp_path), "svc@contoso.com", bad)


def _worker(directory, queue):
    p = SendPacer(directory, "svc@contoso.com", 2, window=1.0)
    slot = p.acquire(timeout=30)
    start = time.time()
    time.sleep(0.05)                 # the send
    end = time.time()
    p.release(slot)
    queue.put((start, end))


def test_forks_share_the_budget(tmp_path):
    # Real processes and a real lock, with a 1 s window instead of a minute.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), queue)) for _worker_no in range(6)]
    for proc in procs:
        proc.start()
    spans = sorted(queue.get(timeout=60) for _proc in procs)
    for proc in procs:
        proc.join(10)
    assert len(spans) == 6
    # No 1 s window holds more than 2 sends: of any two sends that started before a third,
    # one had finished at least 1 s before the third started.
    for k, third in enumerate(spans):
        for i in range(k):
            for j in range(i + 1, k):
                assert third[0] >= min(spans[i][1], spans[j][1]) + 1.0 - 0.01, spans
