# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.migrate through a designated relay host, planned and run end to end (issue 21, section 2.2).

host1 is the inventory's designated relay (smtp_relay_listen on its address, STARTTLS with a lab-CA
certificate), with Postfix and msmtp on basic auth; host2's Grafana is on basic auth. No relay runs yet.
The plan gives host1 the smtp_relay role's xoauth2 relay and makes it the canary (before this was fixed, the
plan assumed a designated host already ran the role's default relay: it set up none, and every application
planned through it failed its proof). host2's Grafana then moves through host1, and its proof is decided by
host1's log. A rerun sees host1's relay running (the before phase reads Postfix's transport) and plans nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.pki_bad import load_ca
from tests.lab.trust import lab_ca_trusted

from .conftest import GRAFANA, fresh_migration
from .test_send_proof import by_message_id

CERT, KEY = "/etc/ssl/mailops-relay/relay.pem", "/etc/ssl/private/mailops-relay.key"
DOMAIN = "contoso.com"


@pytest.fixture(scope="module")
def designated(lab, standins, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("migrate-designated")
    with fresh_migration(lab, standins, scratch, "designated") as mig:
        relay, client = mig.hosts
        ip = lab.host(relay)["ip"]
        ca = load_ca(Path(lab.state["pki"]["ca"]), Path(lab.state["pki"]["ca_key"]), scratch / "pki")
        leaf = ca.issue("relay-" + relay, [ip])
        lab.host_run(relay, ["sh", "-c", 'install -D -m 0644 "$1" "$3" && install -D -m 0600 "$2" "$4"', "sh",
                             str(leaf.cert), str(leaf.key), CERT, KEY])
        mig.host_vars = {
            relay: {"smtp_relay_listen": [ip], "smtp_relay_allowed_networks": [lab.host(client)["ip"] + "/32"],
                    "smtp_relay_tls_cert": CERT, "smtp_relay_tls_key": KEY,
                    "smtp_relay_recipient_domains": [DOMAIN]},
            client: {}}
        try:
            # Grafana (and so its proof) verifies the relay against the system store only: docs/relay.md.
            with lab_ca_trusted(lab, client):
                yield dict(mig.configure_move_rerun(), ip=ip)
        finally:
            lab.host_run(relay, ["rm", "-rf", CERT, KEY, str(Path(CERT).parent)], check=False)


def test_the_designated_relay_is_set_up_first_and_its_client_moves_through_it(designated, standins):
    first, report, mig = designated["first"], designated["report"], designated["mig"]
    relay, client = mig.hosts
    assert first.rc == 0, first.output[-5000:]
    assert f"canary: {relay}" in first.output
    assert report["state"] == "done", report
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts[relay]["status"] == hosts[client]["status"] == "moved"
    assert hosts[relay]["relay"]["smtp_relay_listen"] == [designated["ip"]], hosts[relay]["relay"]
    grafana = {a["name"]: a for a in hosts[client]["apps"]}["grafana (default path)"]
    assert (grafana["before"], grafana["planned"], grafana["after"]) == ("basic", "via_relay", "via_relay"), grafana
    # Accepted by host1's log: Microsoft 365's stand-in took it over XOAUTH2 from host1.
    assert grafana["proof_kind"] == "smtp_client" and grafana["proof_accepted"] is True, grafana
    got = by_message_id(standins, grafana["proof_message_id"])
    assert len(got) == 1 and got[0]["auth_mechanism"] == "XOAUTH2", got
    assert got[0]["peer"][0] == designated["ip"], got[0]
    assert f"{designated['ip']}:25" in mig.lab.host_run(client, ["cat", GRAFANA]).stdout


def test_a_rerun_sees_the_relay_running_and_changes_nothing(designated, standins):
    rerun, mig = designated["rerun"], designated["mig"]
    assert rerun.rc == 0, rerun.output[-5000:]
    assert designated["rerun_report"]["state"] == "done"
    assert all(h["status"] == "unchanged" for h in designated["rerun_report"]["hosts"]), designated["rerun_report"]
    assert "canary: none" in rerun.output
    assert mig.checksums() == designated["before_rerun"]
    assert len(standins.control.messages()) == designated["sent_before_rerun"], "the rerun sent a proof"
