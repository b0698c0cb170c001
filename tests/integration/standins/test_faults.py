# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""SMTP fault modes: tarpit, banner 421, throttle, reset, legacy TLS, bad certs, STARTTLS games."""

from __future__ import annotations

import smtplib
import socket
import ssl
import warnings

import pytest

from standins_client import connect, submission, tls_context


def test_tarpit_sends_no_banner(standins):
    standins.control.set_fault("tarpit")
    with socket.create_connection(standins.smtp_addr, timeout=1.5) as sock:
        with pytest.raises(TimeoutError):
            sock.recv(100)


def test_421_at_banner(standins):
    standins.control.set_fault("banner_421")
    with pytest.raises(smtplib.SMTPConnectError) as err:
        connect(standins)
    assert err.value.smtp_code == 421
    assert err.value.smtp_error.startswith(b"4.3.2 Service not available")


def test_550_5_7_708_refuses_sending_from_the_listed_addresses_only(standins):
    # A login alone still works from a refused address (what a credential's proof does); sending does not.
    standins.control.set_fault("ip_rejected", peers=[standins.denied_source])
    with submission(standins, source_address=(standins.denied_source, 0)) as client:
        client.login(standins.mailbox, standins.password)
        code, reply = client.mail(standins.mailbox)
    assert code == 550 and b"5.7.708 Service unavailable. Access denied, traffic not accepted from this IP" in reply
    with submission(standins, source_address=(standins.allowed_source, 0)) as client:
        client.login(standins.mailbox, standins.password)
        assert client.mail(standins.mailbox)[0] == 250
    with pytest.raises(Exception, match="peers"):
        standins.control.set_fault("ip_rejected")


@pytest.mark.parametrize("stage", ["banner", "mail", "rcpt"])
def test_451_4_7_500_throttle(standins, stage):
    standins.control.set_fault("throttle", stage=stage)
    if stage == "banner":
        with pytest.raises(smtplib.SMTPConnectError) as err:
            connect(standins)
        assert err.value.smtp_code == 451 and b"4.7.500 Server busy" in err.value.smtp_error
        return
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        code, reply = client.mail(standins.mailbox)
        if stage == "rcpt":
            assert code == 250
            code, reply = client.rcpt("someone@example.net")
        assert code == 451 and b"4.7.500 Server busy" in reply


def test_reset_after_starttls(standins):
    standins.control.set_fault("reset_after_starttls")
    client = connect(standins)
    try:
        client.ehlo("client.lab")
        with pytest.raises((ConnectionResetError, ssl.SSLError, smtplib.SMTPServerDisconnected)):
            client.starttls(context=tls_context(standins.ca))
    finally:
        client.close()


def _legacy_client_context(ca: str, version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = tls_context(ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version
        ctx.maximum_version = version
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_legacy_tls_answered_421_4_7_66(standins, version):
    standins.control.set_fault("legacy_tls")
    client = connect(standins)
    try:
        client.ehlo("client.lab")
        client.starttls(context=_legacy_client_context(standins.ca, version))
        assert client.sock.version() in ("TLSv1", "TLSv1.1")
        code, reply = client.ehlo("client.lab")
        assert code == 421
        assert b"4.7.66 TLS 1.0 and 1.1 are not supported" in reply
    finally:
        client.close()


def test_legacy_tls_mode_still_serves_modern_clients(standins):
    standins.control.set_fault("legacy_tls")
    with submission(standins) as client:
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert client.login(standins.mailbox, standins.password)[0] == 235


@pytest.mark.parametrize("kind,verify_code", [
    ("expired", {10}),         # X509_V_ERR_CERT_HAS_EXPIRED
    ("wrong_name", {62, 64}),  # HOSTNAME_MISMATCH (by name) or IP_ADDRESS_MISMATCH (by address)
    ("untrusted", {20}),       # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
])
def test_bad_certificates(standins, kind, verify_code):
    standins.control.set_fault("bad_cert", kind=kind)
    client = connect(standins)
    try:
        client.ehlo("client.lab")
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            client.starttls(context=tls_context(standins.ca))
        assert err.value.verify_code in verify_code
    finally:
        client.close()


def test_bad_certificate_on_implicit_tls(standins):
    standins.control.set_port_mode(465, "tls")
    standins.control.set_fault("bad_cert", kind="expired")
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        smtplib.SMTP_SSL(*standins.smtp_tls_addr, timeout=5, context=tls_context(standins.ca))
    assert err.value.verify_code == 10


def test_starttls_stripped(standins):
    standins.control.set_fault("starttls_stripped")
    with connect(standins) as client:
        client.ehlo("client.lab")
        assert not client.has_extn("starttls")
        assert not client.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.starttls(context=tls_context(standins.ca))
        code, reply = client.docmd("STARTTLS")
        assert code == 500 and b"5.3.3" in reply


def test_starttls_masked(standins):
    standins.control.set_fault("starttls_masked")
    with connect(standins) as client:
        code, features = client.ehlo("client.lab")
        assert b"XXXXXXXA" in features.split(b"\n")
        assert not client.has_extn("starttls")
        code, reply = client.docmd("STARTTLS")
        assert code == 500 and b"XXXXXXXX" in reply


def test_faults_clear_without_restart(standins):
    standins.control.set_fault("banner_421")
    standins.control.clear_faults()
    with submission(standins) as client:
        assert client.login(standins.mailbox, standins.password)[0] == 235
