# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The move of a host whose application goes through a designated relay on another host (contract 3).

host2 sees only the relay's "250 queued as"; whether Microsoft 365 took the proof message is in host1's
log. The move reads it there (send_proof with message_ids, delegated to host1) and counts that verdict:
accepted when the stand-in took it over XOAUTH2 from host1, refused (and the host restored) when the
stand-in refuses the relay's mailbox.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.configure.conftest import read_file
from tests.integration.migrate.test_move_restore import GRAFANA, HOST, grafana_app
from tests.integration.migrate.test_move_restore import basic_host  # noqa: F401  pylint: disable=unused-import
from tests.integration.migrate.test_send_proof import by_message_id
from tests.integration.relay.conftest import CLIENT, RELAY, designated_relay_vars
# The fixtures of the relay suite, for host1 as it was before and after the module.
from tests.integration.relay.conftest import (  # noqa: F401  pylint: disable=unused-import
    pristine_relay_host, relay_runner)
from tests.lab.pki_bad import load_ca
from tests.lab.trust import lab_ca_trusted

CERT, KEY = "/etc/ssl/mailops-relay/relay.pem", "/etc/ssl/private/mailops-relay.key"

assert HOST == CLIENT, "the move's host is the relay's allowed client"


def designated_plan(lab) -> dict:
    """host2's Grafana through host1, the designated relay the inventory names; nothing runs a relay on host2."""
    address = lab.host(RELAY)["ip"]
    via = {"mode": "via_relay", "relay_host": address, "relay_port": 25}
    return {
        "host": HOST, "changes": True,
        "apps": [{"name": "grafana", "preset": "grafana", "from": "basic", "to": "via_relay",
                  "relay": {"host": address, "port": 25, "designated": True}, "blocked": None}],
        "configure_apps": [grafana_app(via)],
        "relay": None,
        "relay_hosts": {address: RELAY},
    }


@pytest.fixture(scope="module")
def relay(lab, pristine_relay_host, relay_runner, tmp_path_factory):
    """host1 as a designated xoauth2 relay for host2, with STARTTLS (a lab-CA certificate for its address):
    a via_relay app through another host requires TLS."""
    ca = load_ca(Path(lab.state["pki"]["ca"]), Path(lab.state["pki"]["ca_key"]), tmp_path_factory.mktemp("pki"))
    leaf = ca.issue("relay-host1", [lab.host(RELAY)["ip"]])
    lab.host_run(RELAY, ["sh", "-c", 'install -D -m 0644 "$1" "$3" && install -D -m 0600 "$2" "$4"', "sh",
                         str(leaf.cert), str(leaf.key), CERT, KEY])
    try:
        yield relay_runner.run(RELAY, dict(designated_relay_vars(lab), smtp_relay_tls_cert=CERT, smtp_relay_tls_key=KEY))
    finally:
        lab.host_run(RELAY, ["rm", "-rf", CERT, KEY, str(Path(CERT).parent)], check=False)


@pytest.fixture(scope="module")
def moves(lab, standins, relay, basic_host):
    """The move through host1 twice: refused by the stand-in (restored), then accepted."""
    assert relay.rc == 0, relay.output[-4000:]
    with lab_ca_trusted(lab, HOST):
        # Grafana (and so its proof) trusts the system store only: the relay's CA goes there, as docs/relay.md says.
        yield _moves(lab, standins, basic_host)


def _moves(lab, standins, basic_host) -> dict:
    before = read_file(lab, HOST, GRAFANA)
    standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=True)
    try:
        refused = basic_host.run(designated_plan(lab), "test-" + uuid.uuid4().hex[:12], smtp_migrate_proof_timeout=20)
    finally:
        standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=False)
    after_refused = read_file(lab, HOST, GRAFANA)
    accepted = basic_host.run(designated_plan(lab), "test-" + uuid.uuid4().hex[:12])
    return {"refused": refused, "accepted": accepted, "before": before, "after_refused": after_refused}


def test_the_relay_hosts_log_decides_the_proof_and_the_message_came_over_xoauth2_from_the_relay(lab, standins, moves):
    run, moved = moves["accepted"]
    assert run.rc == 0, run.output[-4000:]
    assert moved["status"] == "moved", moved
    proof = {a["name"]: a["proof"] for a in moved["apps"]}["grafana"]
    assert proof["accepted"] is True and proof["relay_host"] == RELAY, proof
    assert (proof["kind"], proof["path"], proof["relay_upstream"]) == ("smtp_client", "via_relay", "xoauth2")
    got = by_message_id(standins, proof["message_id"])
    assert len(got) == 1, got
    assert got[0]["auth_mechanism"] == "XOAUTH2" and got[0]["peer"][0] == lab.host(RELAY)["ip"], got[0]
    assert f"{lab.host(RELAY)['ip']}:25" in read_file(lab, HOST, GRAFANA)


def test_a_refusal_in_the_relay_hosts_log_restores_the_host(moves):
    run, moved = moves["refused"]
    assert run.rc != 0 and moved["status"] == "restored", run.output[-4000:]
    proof = {a["name"]: a["proof"] for a in moved["apps"]}["grafana"]
    # The verdict is the relay host's (its log recorded the stand-in's refusal), not "awaiting".
    assert proof["accepted"] is False and proof["relay_host"] == RELAY and not proof["awaiting_relay_log"], proof
    assert moves["after_refused"] == moves["before"]
