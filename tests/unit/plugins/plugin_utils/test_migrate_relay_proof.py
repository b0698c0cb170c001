# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A proof through a designated relay on another host, decided by that relay host's log."""

from __future__ import annotations

from ansible_collections.mailops.smtp.plugins.plugin_utils import _migrate_relay_proof as m

RELAYS = {"198.18.0.9": "relay1", "198.18.0.10": "relay2"}


def waiting(name, host, mid):
    return {"name": name, "kind": "smtp_client", "path": "via_relay", "host": host, "accepted": False,
            "awaiting_relay_log": True, "message_id": mid, "reply": "250 2.0.0 Ok: queued as ABC",
            "message": "%s: the designated relay took the message" % name}


def direct(name):
    return {"name": name, "kind": "app_command", "path": "xoauth2", "host": "smtp.office365.com", "accepted": True,
            "awaiting_relay_log": False, "message_id": "<m-%s@h>" % name, "reply": "250 2.0.0 OK"}


SENT = {"proofs": [direct("msmtp"), waiting("grafana", "198.18.0.9", "<g@h>"),
                   waiting("django", "198.18.0.10", "<d@h>"), waiting("spring", "198.18.0.77", "<s@h>")]}


def test_waiting_proofs_are_grouped_by_the_relay_host_the_inventory_names():
    assert m.awaiting_by_relay(SENT, RELAYS) == {"relay1": [{"name": "grafana", "message_id": "<g@h>"}],
                                                 "relay2": [{"name": "django", "message_id": "<d@h>"}]}
    # Nothing waits, or no relay is known: nothing to read.
    assert m.awaiting_by_relay({"proofs": [direct("msmtp")]}, RELAYS) == {}
    assert m.awaiting_by_relay(SENT, {}) == {} and m.awaiting_by_relay(None, None) == {}


def loop_result(host, proofs):
    return {"item": {"key": host, "value": []}, "proofs": proofs}


def test_each_waiting_proof_takes_its_relays_verdict_and_keeps_the_apps_own_fields():
    accepted = {"name": "grafana", "kind": "relay_log", "message_id": "<g@h>", "accepted": True,
                "reply": "250 2.0.0 OK <g@h> [Hostname=stand-in]", "diagnosis": None, "message": "sent",
                "relay_upstream": "xoauth2", "relay_queue_id": "Q1"}
    refused = {"name": "django", "kind": "relay_log", "message_id": "<d@h>", "accepted": False,
               "reply": "550 5.7.30 Basic authentication is not supported", "diagnosis": "basic_auth_retired",
               "message": "bounced", "relay_upstream": "basic", "relay_queue_id": "Q2"}
    results = {"results": [loop_result("relay1", [accepted]), loop_result("relay2", [refused])]}
    out = m.with_relay_verdicts(SENT, results)["proofs"]
    assert out[0] == direct("msmtp")
    assert out[1]["accepted"] is True and out[1]["relay_host"] == "relay1" and out[1]["awaiting_relay_log"] is False
    assert (out[1]["kind"], out[1]["path"], out[1]["relay_upstream"]) == ("smtp_client", "via_relay", "xoauth2")
    assert out[2]["accepted"] is False and out[2]["diagnosis"] == "basic_auth_retired"
    assert out[2]["reply"].startswith("550 5.7.30")
    # No verdict came back for spring (no relay host known): it still waits, so it does not count.
    assert out[3] == SENT["proofs"][3]


def test_a_skipped_loop_leaves_the_proof_as_it_was():
    assert m.with_relay_verdicts(SENT, {"results": [], "skipped": True}) == SENT
    assert m.with_relay_verdicts(SENT, None) == SENT


def test_the_wait_for_the_relays_log_adds_to_the_proofs_wait():
    sent = {"proofs": [{"name": "grafana", "kind": "smtp_client", "path": "via_relay", "message_id": "<g@h>",
                        "accepted": False, "awaiting_relay_log": True, "waited_s": 0.5, "started_at": 100.0}]}
    verdict = {"name": "grafana", "kind": "relay_log", "message_id": "<g@h>", "accepted": True, "waited_s": 2.25}
    out = m.with_relay_verdicts(sent, {"results": [loop_result("relay1", [verdict])]})["proofs"][0]
    assert out["waited_s"] == 2.75 and out["started_at"] == 100.0 and out["accepted"] is True


def test_the_relays_log_wait_keeps_its_own_time_beside_the_sends():
    # The batch's reader reads the log after every host has sent: its wait is a span of its own, so that the
    # waits of hosts sending one after the other are not counted as overlapping the read.
    sent = {"proofs": [{"name": "grafana", "kind": "smtp_client", "path": "via_relay", "message_id": "<g@h>",
                        "accepted": False, "awaiting_relay_log": True, "waited_s": 0.5, "started_at": 100.0}]}
    verdict = {"name": "grafana", "kind": "relay_log", "message_id": "<g@h>", "accepted": True, "waited_s": 2.25,
               "started_at": 130.0}
    out = m.with_relay_verdicts(sent, {"results": [loop_result("relay1", [verdict])]})["proofs"][0]
    assert out["wait_spans"] == [[100.0, 0.5], [130.0, 2.25]]


def test_the_batch_has_one_reader_and_every_hosts_waiting_proofs_by_relay():
    other = {"proofs": [waiting("django", "198.18.0.9", "<d2@h>")]}
    hostvars = {
        "h0": {},                                                      # skipped its move, or failed its send
        "h1": {"smtp_migrate__relay_awaiting": m.awaiting_by_relay({"proofs": [direct("msmtp")]}, RELAYS)},
        "h2": {"smtp_migrate__relay_awaiting": m.awaiting_by_relay(SENT, RELAYS)},
        "h3": {"smtp_migrate__relay_awaiting": m.awaiting_by_relay(other, RELAYS)},
    }
    out = m.batch_reader(["h0", "h1", "h2", "h3"], hostvars)
    assert out["reader"] == "h2"
    assert out["by_relay"] == {"relay1": [{"name": "grafana", "message_id": "<g@h>"},
                                          {"name": "django", "message_id": "<d2@h>"}],
                               "relay2": [{"name": "django", "message_id": "<d@h>"}]}
    # Nothing waits: no reader.
    assert m.batch_reader(["h0", "h1"], hostvars) == {"reader": None, "by_relay": {}}
    assert m.batch_reader(None, hostvars) == {"reader": None, "by_relay": {}}
