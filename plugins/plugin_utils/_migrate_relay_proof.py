# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The second half of a proof through a designated relay on another host (roles/smtp_migrate/tasks/move.yml).

A host that sends through a designated relay sees only the relay's "250 queued as": whether Microsoft 365
took the message is in that relay's log, on the relay host. send_proof then returns the proof as
awaiting_relay_log; the move runs send_proof with message_ids on the relay host and puts its verdict in
place of the waiting proof.

Internal use only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# What the relay host's verdict decides; the app's own fields (name, kind, path, file) stay.
VERDICT_KEYS = ("accepted", "reply", "diagnosis", "message", "relay_upstream", "relay_queue_id")


def _proofs(proof):
    return (proof or {}).get("proofs") or []


def awaiting_by_relay(proof, relay_hosts):
    """{relay inventory host: [{name, message_id}]} of the proofs that wait for a designated relay's log.

    relay_hosts: {relay address: inventory host} (the plan's relay_hosts). A proof through an address the
    inventory names no relay host for is left out: it stays not accepted, with the proof's own message."""
    out = {}
    for p in _proofs(proof):
        if not p.get("awaiting_relay_log") or not p.get("message_id"):
            continue
        host = (relay_hosts or {}).get(p.get("host"))
        if host:
            out.setdefault(host, []).append({"name": p.get("name"), "message_id": p["message_id"]})
    return out


def _verdicts(results):
    """{message_id: (relay host, proof)} from the registered loop over the relay hosts."""
    found = {}
    for r in (results or {}).get("results") or []:
        if not isinstance(r, dict):
            continue
        host = (r.get("item") or {}).get("key")
        for p in r.get("proofs") or []:
            if p.get("message_id"):
                found[p["message_id"]] = (host, p)
    return found


def with_relay_verdicts(proof, results):
    """The proof result with each waiting proof decided by its relay host's log (kept waiting when no verdict
    came back, so the move fails with the proof's own message)."""
    found = _verdicts(results)
    merged = []
    for p in _proofs(proof):
        hit = found.get(p.get("message_id")) if p.get("awaiting_relay_log") else None
        if hit is None:
            merged.append(p)
            continue
        host, verdict = hit
        p = dict(p, awaiting_relay_log=False, relay_host=host)
        p.update((k, verdict.get(k)) for k in VERDICT_KEYS)
        # The wait for the relay host's log is part of this proof's wait (migration.json's timings).
        p["waited_s"] = round((p.get("waited_s") or 0.0) + (verdict.get("waited_s") or 0.0), 3)
        merged.append(p)
    return dict(proof or {}, proofs=merged)
