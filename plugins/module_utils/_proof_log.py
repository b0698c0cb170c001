# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A message's fate in a Postfix log: taken (queue id, by its Message-ID), then sent, deferred or bounced.

Internal use only (mailops.smtp.send_proof). Postfix's cleanup logs `QUEUEID: message-id=<...>` for
every message it takes (from sendmail or from SMTP), and each delivery attempt as
`QUEUEID: to=<rcpt>, relay=NAME[...], ..., status=sent (reply)`. The relay's upstream is told by
`relay=`: the smtp_relay role's pipe transport (xoauth2), a connector endpoint, or a submission
server logged in to with a password (basic).

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.mailops.smtp.plugins.module_utils._proof_read import (
    PATH_BASIC, PATH_CONNECTOR, PATH_XOAUTH2, RELAY_XOAUTH2_TRANSPORT)

_QUEUE_ID = r"[0-9A-Za-z]+"
_STATUS = re.compile(r"\b(%s): to=<([^>]*)>,.*? relay=([^,]+),.*? status=(sent|deferred|bounced|expired)"
                     r"(?: \((.*)\))?\s*$" % _QUEUE_ID)
FINAL = ("sent", "bounced", "expired")
POLL_SECONDS = 0.5
# A log larger than this is read from the end only: the message is new, so its lines are near the end.
TAIL_BYTES = 4 * 1024 * 1024


def queue_id_of(log_text, message_id):
    """The queue id Postfix gave the message with this Message-ID, or None."""
    rx = re.compile(r"\b(%s): message-id=<?%s>?(?:\s|$)" % (_QUEUE_ID, re.escape(message_id.strip("<>"))))
    for line in log_text.splitlines():
        m = rx.search(line)
        if m:
            return m.group(1)
    return None


def upstream_of(relay_field):
    """The way the relay's delivery went, from the relay= field of its log line."""
    name = relay_field.split("[", 1)[0].strip().lower()
    if name == RELAY_XOAUTH2_TRANSPORT:
        return PATH_XOAUTH2
    if ".mail.protection." in name:
        return PATH_CONNECTOR
    if name in ("local", "virtual", "none", "discard", "error"):
        return None
    return PATH_BASIC


def _attempt(match, line):
    """A delivery attempt from its log line's _STATUS match."""
    return {"status": match.group(4), "reply": (match.group(5) or "").strip(), "relay": match.group(3).strip(),
            "upstream": upstream_of(match.group(3)), "recipient": match.group(2), "line": line.strip()}


def delivery_of(log_text, queue_id):
    """The last delivery attempt of queue_id: {status, reply, relay, upstream, line}, or None."""
    found = None
    for line in log_text.splitlines():
        m = _STATUS.search(line)
        if m and m.group(1) == queue_id:
            found = _attempt(m, line)
            if found["status"] in FINAL:
                return found
    return found


_TAKEN = re.compile(r"\b(%s): message-id=<?([^\s>]+)>?(?:\s|$)" % _QUEUE_ID)


def _not_yet(queue_id):
    return {"queue_id": queue_id, "status": "queued" if queue_id else "unseen", "reply": "", "relay": None,
            "upstream": None, "line": None}


def index(log_text):
    """({Message-ID without <>: queue id}, {queue id: its delivery as delivery_of gives it}) in one pass over
    the log, for many messages at once."""
    taken, deliveries = {}, {}
    for line in log_text.splitlines():
        m = _TAKEN.search(line)
        if m:
            taken.setdefault(m.group(2), m.group(1))
            continue
        m = _STATUS.search(line)
        if m and (deliveries.get(m.group(1)) or {}).get("status") not in FINAL:
            deliveries[m.group(1)] = _attempt(m, line)
    return taken, deliveries


def wait_for_deliveries(path, message_ids, stall=60, clock=time.monotonic, sleep=time.sleep):
    """Poll the log until the first delivery attempt of every message ended, or until stall seconds pass
    without one ending. {message_id: (as wait_for_delivery returns it, seconds from the start until then)}.

    Not one deadline for all: a relay paced at Microsoft 365's 30 messages a minute delivers a batch's
    messages over minutes, and is waited for as long as it moves on."""
    start = last = clock()
    out, pending = {}, list(dict.fromkeys(message_ids))
    while True:
        taken, deliveries = index(read_from(path, None))
        now = clock()
        for mid in list(pending):
            qid = taken.get(mid.strip("<>"))
            if qid and qid in deliveries:
                out[mid] = (dict(deliveries[qid], queue_id=qid), now - start)
                pending.remove(mid)
                last = now
        if not pending or now - last >= stall:
            break
        sleep(POLL_SECONDS)
    for mid in pending:
        out[mid] = (_not_yet(taken.get(mid.strip("<>"))), now - start)
    return out


def log_offset(path):
    """Where the log ends now; the proof reads from here on (None: the log does not exist yet)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def read_from(path, offset):
    """The log's text from offset (from the start when it shrank: rotated; the tail when very large)."""
    try:
        size = os.path.getsize(path)
        start = offset if offset is not None and offset <= size else 0
        start = max(start, size - TAIL_BYTES)
        with open(path, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


def wait_for_delivery(path, message_id, offset=None, timeout=60, queue_id=None, clock=time.monotonic,
                      sleep=time.sleep):
    """Poll the log until the message's first delivery attempt ends (sent, deferred, bounced).

    Returns {queue_id, status, reply, relay, upstream, line}; status is "unseen" when the log never
    named the message, "queued" when it was taken but no attempt ended in time. A deferral is an
    answer: the proof wants the upstream's verdict now, not after Postfix's retries.
    """
    deadline = clock() + timeout
    while True:
        text = read_from(path, offset)
        qid = queue_id or queue_id_of(text, message_id)
        if qid:
            found = delivery_of(text, qid)
            if found:
                found["queue_id"] = qid
                return found
        if clock() >= deadline:
            return _not_yet(qid)
        sleep(POLL_SECONDS)
