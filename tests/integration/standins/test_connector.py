# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connector endpoint (<tenant>.mail.protection.outlook.com:25)."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from standins_client import message, tls_context


def _connector(standins, source: str) -> smtplib.SMTP:
    host, port = standins.connector_addr
    return smtplib.SMTP(host, port, timeout=5, source_address=(source, 0))


def test_no_auth_offered_and_starttls_available(standins):
    with _connector(standins, standins.allowed_source) as client:
        client.ehlo("app.lab")
        assert client.has_extn("starttls")
        client.starttls(context=tls_context(standins.ca))
        client.ehlo("app.lab")
        assert not client.has_extn("auth")


def test_allowed_source_relays_without_auth(standins):
    with _connector(standins, standins.allowed_source) as client:
        client.ehlo("app.lab")
        client.starttls(context=tls_context(standins.ca))
        client.send_message(message("app@contoso.com", "user@example.net"))
    got = standins.control.messages()
    assert len(got) == 1
    assert got[0]["listener"] == "connector:25"
    assert got[0]["auth_identity"] is None and got[0]["auth_mechanism"] == "ip"
    assert got[0]["peer"][0] == standins.allowed_source


def test_other_source_gets_550_5_7_64(standins):
    with _connector(standins, standins.denied_source) as client:
        client.ehlo("app.lab")
        client.starttls(context=tls_context(standins.ca))
        client.ehlo("app.lab")
        assert client.mail("app@contoso.com")[0] == 250
        code, reply = client.rcpt("user@example.net")
    assert code == 550
    assert b"5.7.64 TenantAttribution; Relay Access Denied" in reply
    assert standins.control.messages() == []


def test_lab_ca_client_certificate_relays(standins):
    ctx = tls_context(standins.ca)
    ctx.load_cert_chain(standins.client_cert.cert, standins.client_cert.key)
    with _connector(standins, standins.denied_source) as client:
        client.ehlo("app.lab")
        client.starttls(context=ctx)
        client.send_message(message("app@contoso.com", "user@example.net"))
    got = standins.control.messages()
    assert got[0]["auth_mechanism"] == "certificate"
    assert got[0]["auth_identity"] == "relay.contoso.com"


def test_untrusted_client_certificate_is_not_relayed(standins):
    ctx = tls_context(standins.ca)
    ctx.load_cert_chain(standins.untrusted_client_cert.cert, standins.untrusted_client_cert.key)
    client = _connector(standins, standins.denied_source)
    try:
        client.ehlo("app.lab")
        # TLS 1.3 reports the server's rejection of the client certificate on the next read.
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            client.starttls(context=ctx)
            client.ehlo("app.lab")
            client.sendmail("app@contoso.com", ["user@example.net"], b"Subject: x\r\n\r\nx\r\n")
    finally:
        client.close()
    assert standins.control.messages() == []
