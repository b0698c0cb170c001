# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hop to an application's relay (probe option relays): defaults, refusals, and real probes on loopback."""

from __future__ import annotations

import socket
import threading

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _relay_hop
from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import diagnosis
from ansible_collections.mailops.smtp.plugins.module_utils.endpoint import EndpointError, build_plan
from ansible_collections.mailops.smtp.plugins.module_utils.smtp_probe import run_probe


@pytest.mark.parametrize("given, expected", [
    ({"host": "127.0.0.1"}, {"host": "127.0.0.1", "port": 25, "security": "none"}),
    ({"host": "localhost", "port": "2525"}, {"host": "localhost", "port": 2525, "security": "none"}),
    ({"host": "relay1.lab.test"}, {"host": "relay1.lab.test", "port": 25, "security": "starttls"}),
    ({"host": "::1", "port": 25, "security": None}, {"host": "::1", "port": 25, "security": "none"}),
    ({"host": "10.0.0.5", "security": "none"}, {"host": "10.0.0.5", "port": 25, "security": "none"}),
])
def test_security_defaults_as_the_via_relay_presets_write_it(given, expected):
    assert _relay_hop.normalise(given) == expected


@pytest.mark.parametrize("bad, words", [
    ({}, "host (required)"), ("127.0.0.1", "host (required)"), ({"host": "r", "port": 0}, "1 to 65535"),
    ({"host": "r", "port": True}, "1 to 65535"), ({"host": "r", "security": "tls"}, "no implicit TLS"),
    ({"host": "r", "user": "x"}, "unknown key(s) user"),
])
def test_bad_relay_entries_are_refused_before_any_connection(bad, words):
    with pytest.raises(EndpointError, match=words.replace("(", r"\(").replace(")", r"\)")):
        build_plan({"profile": "custom", "host": "127.0.0.1", "relays": [bad]})


def test_the_plan_probes_each_relay_once_up_to_ehlo_without_a_login():
    plan = build_plan({"profile": "m365", "timeout": 4, "ca_path": None,
                       "relays": [{"host": "127.0.0.1"}, {"host": "127.0.0.1", "port": 25}, {"host": "relay.test"}]})
    assert [h["relay"] for h in plan["relays"]] == [{"host": "127.0.0.1", "port": 25, "security": "none"},
                                                    {"host": "relay.test", "port": 25, "security": "starttls"}]
    hop = plan["relays"][1]["plan"]
    assert (hop["profile"], hop["host"], hop["stop_after"], hop["auth"], hop["timeout"]) == (
        "custom", "relay.test", "ehlo", None, 4.0)
    assert hop["ports"][0]["security"] == "starttls" and hop["relays"] == []


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _Relay:
    """A plain SMTP listener on loopback that greets and answers EHLO, as Postfix on loopback does (no STARTTLS)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn = self.sock.accept()[0]
        except OSError:
            return
        with conn:
            f = conn.makefile("rb")
            conn.sendall(b"220 relay.lab.test ESMTP Postfix\r\n")
            for line in f:
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-relay.lab.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif line.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return

    def close(self):
        self.sock.close()


def _probe_with_relays(relays):
    main = _free_port()
    plan = build_plan({"profile": "custom", "host": "127.0.0.1", "ports": [{"port": main, "security": "none"}],
                       "helo": "app.test", "timeout": 2, "connect_timeout": 1, "retries": 0, "relays": relays})
    return run_probe(plan, sleep=lambda s: None, backoff_base=0.01)


def test_a_relay_that_answers_passes_through_ehlo():
    relay = _Relay()
    try:
        res = _probe_with_relays([{"host": "127.0.0.1", "port": relay.port}])
    finally:
        relay.close()
    hop, = res["relays"]
    assert hop["ok"] is True and hop["diagnosis"] is None and hop["message"] is None
    assert hop["relay"] == {"host": "127.0.0.1", "port": relay.port, "security": "none"}
    stages = [s["name"] for s in hop["ports"][str(relay.port)]["stages"]]
    assert stages == ["dns", "connect", "banner", "ehlo"]
    assert hop["summary"] == "%d ok (no TLS)" % relay.port
    # The relay's result changes nothing of the host's own verdict (its main port is closed).
    assert res["ok"] is False


def test_a_relay_that_refuses_says_what_to_do():
    port = _free_port()
    hop, = _probe_with_relays([{"host": "127.0.0.1", "port": port}])["relays"]
    assert hop["ok"] is False and hop["diagnosis"]["code"] == "relay_unreachable"
    assert hop["message"] == ("the relay at 127.0.0.1:%d refused the connection: run the mailops.smtp.relay playbook "
                              "on this host, start its Postfix, or check smtp_relay_listen" % port)


def test_a_failure_past_the_greeting_keeps_the_probes_own_diagnosis():
    relay = {"host": "relay.test", "port": 25, "security": "starttls"}
    res = {"ok": False, "summary": "25 failed at starttls", "ports": {"25": {"ok": False, "diagnosis": diagnosis(
        "starttls_missing")}}}
    hop = _relay_hop.hop_result(relay, res, diagnosis)
    assert hop["diagnosis"]["code"] == "starttls_missing"
    assert hop["message"] == "the relay at relay.test:25: STARTTLS is not offered, or is masked"
    res["ports"]["25"]["diagnosis"] = diagnosis("tcp_timeout")
    hop = _relay_hop.hop_result(relay, res, diagnosis)
    assert hop["diagnosis"]["code"] == "relay_unreachable" and "on the relay host" in hop["message"]
