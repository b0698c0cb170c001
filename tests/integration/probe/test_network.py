# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network part of the path, from lab hosts: names, refused and dropped ports, ports not offered.

One play; host knobs make each host's fault, so all cases run at once.
"""

from __future__ import annotations

import pytest

from probe_helpers import FAST, Round, diag, stage, submission_args


@pytest.fixture(scope="module")
def net(runner, host_knobs, fleet, standins):
    h1, h2, h3, h4, h5 = fleet["hosts"][:5]
    host_knobs.remove_name(h1)
    host_knobs.firewall(h2, 587, "reject")
    host_knobs.firewall(h3, 587, "drop")
    host_knobs.count_syns(h3, 587)
    cases = {
        h1: submission_args(standins),
        h2: submission_args(standins),
        h3: submission_args(standins, retries=2),
        # The m365 profile as a user writes it: both ports, the profile's expectations.
        h4: {"profile": "m365", "ca_path": standins.ca, **FAST},
        # 465 expected open by the user, silent while 587 on the same address works.
        h5: {"profile": "custom", "host": standins.smtp_host, "ports": [587, 465], "require": "all",
             "ca_path": standins.ca, **FAST},
    }
    result = runner.play([Round("network", cases)])
    return {"play": result, "r": result.results["network"], "hosts": (h1, h2, h3, h4, h5),
            "syns": host_knobs.connect_attempts(h3)}


def test_name_that_does_not_resolve_is_dns_failure(net):
    r = net["r"][net["hosts"][0]]
    assert r["ok"] is False and r["failed"] is False  # failed_when: false kept the play going
    assert diag(r, 587) == "dns_failure"
    assert stage(r, 587, "dns")["ok"] is False
    assert [s["name"] for s in r["ports"]["587"]["stages"]] == ["dns"]


def test_rejected_port_is_tcp_refused(net):
    r = net["r"][net["hosts"][1]]
    assert r["ok"] is False
    assert diag(r, 587) == "tcp_refused"
    assert stage(r, 587, "connect")["ok"] is False
    assert "refused" in r["summary"] or "tcp_refused" in r["summary"]


def test_dropped_port_is_tcp_timeout_and_never_retried(net):
    r = net["r"][net["hosts"][2]]
    assert r["ok"] is False
    assert diag(r, 587) == "tcp_timeout"
    # retries: 2 was allowed, but a silent drop is not transient: one connect() only.
    assert net["syns"] == 1
    assert "retr" not in stage(r, 587, "connect")["detail"]


def test_m365_profile_default_standin_ok_with_465_not_offered(net, standins):
    r = net["r"][net["hosts"][3]]
    assert r["ok"] is True and r["changed"] is False
    assert r["ports"]["587"]["ok"] is True
    assert r["ports"]["587"]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert r["ports"]["587"]["tls"]["cert"]["chain_trusted"] is True
    assert r["ports"]["587"]["auth_mechanisms"] == ["LOGIN", "XOAUTH2"]
    # The lab's certificates live 20 days: the probe warns, without failing the port.
    assert diag(r, 587) in (None, "cert_expiring")
    assert r["ports"]["465"]["expected"] == "not_offered"
    assert diag(r, 465) == "port_not_offered"
    assert "465 not offered by this endpoint (expected)" in r["summary"]
    # 465 is only ever connected to, never greeted: the stand-in saw 587 alone.
    assert net["play"].counters("network")["ports"].get("smtp:465", 0) == 0


def test_silent_port_beside_a_working_one_is_port_not_offered(net):
    r = net["r"][net["hosts"][4]]
    assert r["ports"]["465"]["expected"] == "open"
    assert diag(r, 465) == "port_not_offered"
    assert "times out while another port works" in r["summary"]
    # require: all counts a port that is not offered as informational.
    assert r["ok"] is True
