# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Port modes: 465 silently drops by default; it can offer implicit TLS; closed refuses."""

from __future__ import annotations

import smtplib
import socket

import pytest

from standins_client import message, tls_context


def test_465_drops_silently_by_default(standins):
    # A dropped SYN shows as a connect timeout, not a refusal.
    with pytest.raises(TimeoutError):
        socket.create_connection(standins.smtp_tls_addr, timeout=1.5)
    # ... while 587 on the same address answers.
    with socket.create_connection(standins.smtp_addr, timeout=5) as sock:
        assert sock.recv(3) == b"220"


def test_465_implicit_tls_when_switched(standins):
    standins.control.set_port_mode(465, "tls")
    host, port = standins.smtp_tls_addr
    with smtplib.SMTP_SSL(host, port, timeout=5, context=tls_context(standins.ca)) as client:
        client.ehlo("client.lab")
        assert not client.has_extn("starttls")
        assert client.esmtp_features["auth"].split() == ["LOGIN", "XOAUTH2"]
        client.login(standins.mailbox, standins.password)
        client.send_message(message(standins.mailbox, "someone@example.net"))
    assert standins.control.messages()[0]["listener"] == "smtp:465"
    assert standins.control.counters()["ports"]["smtp:465"] == 1


def test_closed_port_refuses(standins):
    standins.control.set_port_mode(465, "closed")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(standins.smtp_tls_addr, timeout=3)


def test_587_can_be_dropped_and_restored(standins):
    standins.control.set_port_mode(587, "drop")
    with pytest.raises(TimeoutError):
        socket.create_connection(standins.smtp_addr, timeout=1.5)
    standins.control.reset()
    with socket.create_connection(standins.smtp_addr, timeout=5) as sock:
        assert sock.recv(3) == b"220"


def test_connections_are_counted_per_port(standins):
    for _attempt in range(2):
        with smtplib.SMTP(*standins.smtp_addr, timeout=5) as client:
            client.noop()
    assert standins.control.counters()["ports"]["smtp:587"] == 2
