# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pacing of test messages per mailbox, shared by every fork of the controller.

Microsoft 365 delivers 30 messages a minute per mailbox and carries the excess over to the
following minutes, so unpaced test messages delay the mailbox's real mail. Probes run in separate
worker processes, so the count lives in a small file under the controller's local tmp,
guarded by an exclusive lock.

A send is counted from the moment its slot is taken until 60 s after it finished: a
message goes out somewhere between the two, so no 60 s window can then hold more sends
than the limit, however long each probe takes. A slot whose worker died is forgotten
after STALE seconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os
import time
import uuid

WINDOW = 60.0
STALE = 600.0


class PacerError(Exception):
    pass


class SendPacer(object):
    def __init__(self, directory, mailbox, per_minute, clock=time.time, sleep=time.sleep, window=WINDOW):
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 1:
            raise PacerError("send_per_minute must be a whole number of at least 1")
        # The file name carries a digest of the mailbox, not the address itself.
        key = hashlib.sha256(mailbox.strip().lower().encode("utf-8")).hexdigest()[:16]
        self.path = os.path.join(directory, "mailops-smtp-sends-%s.json" % key)
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self.window = window

    def _locked(self, update):
        """Run update(entries, now) -> (entries, value) under the lock; return value."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r+") as fh:
                text = fh.read()
                try:
                    entries = json.loads(text) if text.strip() else []
                except ValueError:
                    entries = []   # a torn file from a killed run: start afresh
                now = self.clock()
                entries = [e for e in entries if isinstance(e, dict) and self._live(e, now, self.window)]
                entries, value = update(entries, now)
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps(entries))
                fh.flush()
            return value
        finally:
            os.close(fd)   # also drops the lock

    @staticmethod
    def _live(entry, now, window):
        end = entry.get("end")
        if end is None:
            return now - entry.get("start", 0) < STALE
        return now - end < window

    def acquire(self, timeout):
        """Take a slot, waiting as long as needed up to timeout seconds; return its id."""
        slot = uuid.uuid4().hex
        deadline = self.clock() + timeout

        def take(entries, now):
            if len(entries) < self.per_minute:
                return entries + [{"id": slot, "start": now, "end": None}], None
            finished = [e["end"] + self.window - now for e in entries if e.get("end") is not None]
            # Only sends still in flight: look again soon.
            return entries, max(0.05, min(finished) if finished else 1.0)

        while True:
            wait = self._locked(take)
            if wait is None:
                return slot
            if self.clock() + wait > deadline:
                raise PacerError("no slot for a test message within %d s: %d messages a minute are already "
                                 "being sent through this mailbox" % (timeout, self.per_minute))
            self.sleep(min(wait, 5.0))

    def release(self, slot):
        """The send of this slot is over (sent, refused or never started)."""
        def done(entries, now):
            for e in entries:
                if e.get("id") == slot:
                    e["end"] = now
            return entries, None
        try:
            self._locked(done)
        except (IOError, OSError) as exc:
            # Not fatal: the slot then counts until it goes stale.
            if exc.errno not in (errno.ENOENT, errno.EACCES):
                raise
