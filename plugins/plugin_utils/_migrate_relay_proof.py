# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The second half of a proof through a designated relay on another host (roles/smtp_migrate/tasks/move.yml).

A host that sends through a designated relay sees only the relay's "250 queued as": whether Microsoft 365
took the message is in that relay's log, on the relay host. send_proof then returns the proof as
awaiting_relay_log. Once every host of the batch has sent, one of them (the reader) runs send_proof with
the message_ids of the whole batch on each relay host, and every host puts the verdicts in place of its
waiting proofs. One run per batch, not one per host: at 25 hosts, the runs per host were 86 s of migrate's
280 s, most of it each host's own wait for the same log (docs/performance.md).

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


def batch_reader(batch, hostvars):
    """{"reader": the first host of the batch with a proof waiting for a designated relay's log, or None;
    "by_relay": {relay inventory host: [{name, message_id}]} of every host of the batch}.

    batch: the batch's hosts (ansible_play_batch); hostvars: Ansible's, for each host's
    smtp_migrate__relay_awaiting (awaiting_by_relay of its own proof, set after it sent; not set on a host
    that skipped or failed its send). Every host works out the same answer, so the reader is the one host
    that reads."""
    reader, by_relay = None, {}
    for host in batch or []:
        waiting = (hostvars.get(host) or {}).get("smtp_migrate__relay_awaiting") or {}
        for relay, items in waiting.items():
            by_relay.setdefault(relay, []).extend(items)
        if waiting and reader is None:
            reader = host
    return {"reader": reader, "by_relay": by_relay}


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


def _span(proof):
    return [float(proof.get("started_at") or 0.0), float(proof.get("waited_s") or 0.0)]


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
        # The wait for the relay host's log is part of this proof's wait (migration.json's timings), at the
        # time the reader waited, after the batch's sends: its own span beside the send's.
        p["wait_spans"] = [_span(p), _span(verdict)]
        p["waited_s"] = round(sum(length for _start, length in p["wait_spans"]), 3)
        merged.append(p)
    return dict(proof or {}, proofs=merged)
