# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""smtp.office365.com:587 stand-in: banner, STARTTLS, AUTH and sending rules."""

from __future__ import annotations

import smtplib
import ssl
import warnings

import pytest

from standins_client import connect, message, submission, tls_context


def test_banner_is_microsoft_style(standins):
    client = smtplib.SMTP(timeout=5)
    try:
        code, banner = client.connect(*standins.smtp_addr)
        assert code == 220
        assert b"Microsoft ESMTP MAIL Service ready at" in banner
    finally:
        client.close()


def test_before_tls_ehlo_offers_starttls_and_no_auth(standins):
    with connect(standins) as client:
        code, _reply = client.ehlo("client.lab")
        assert code == 250
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")
        code, reply = client.docmd("AUTH", "LOGIN")
        assert code == 504 and b"5.7.4" in reply


def test_mail_before_auth_gets_530_5_7_57(standins):
    with connect(standins) as client:
        client.ehlo("client.lab")
        code, reply = client.mail(standins.mailbox)
        assert (code, reply[:8]) == (530, b"5.7.57 C")
    with submission(standins) as client:
        code, reply = client.mail(standins.mailbox)
        assert code == 530 and b"5.7.57" in reply


def test_after_tls_auth_login_xoauth2_without_plain(standins):
    with submission(standins) as client:
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        mechanisms = client.esmtp_features["auth"].split()
        assert sorted(mechanisms) == ["LOGIN", "XOAUTH2"]
        code, reply = client.docmd("AUTH", "PLAIN AGZvbwBiYXI=")
        assert code == 504


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_below_1_2_is_refused(standins, version):
    ctx = tls_context(standins.ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = getattr(ssl.TLSVersion, version)
        ctx.maximum_version = getattr(ssl.TLSVersion, version)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    client = connect(standins)
    try:
        client.ehlo("client.lab")
        with pytest.raises(ssl.SSLError):
            client.starttls(context=ctx)
    finally:
        client.close()


def test_login_and_send_records_identity(standins):
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        refused = client.send_message(message(standins.mailbox, "someone@example.net",
                                              subject="identity check"))
        assert refused == {}
    msgs = standins.control.messages()
    assert len(msgs) == 1
    got = msgs[0]
    assert got["envelope_from"] == standins.mailbox
    assert got["rcpt_tos"] == ["someone@example.net"]
    assert got["auth_identity"] == standins.mailbox
    assert got["auth_mechanism"] == "LOGIN"
    assert ["Subject", "identity check"] in got["headers"]
    assert got["tls_version"] in ("TLSv1.2", "TLSv1.3")
    counters = standins.control.mailbox_counters(standins.mailbox)
    assert counters["auth_ok"] == 1 and counters["messages"] == 1


def test_non_ascii_password_logs_in(standins):
    # App passwords are ASCII, but a mailbox password need not be: UTF-8 on the wire.
    import base64

    def b64(text):
        return base64.b64encode(text.encode("utf-8")).decode()

    password = "Pässwörd-日本-%s" % standins.password[-4:]
    standins.control.add_password(standins.mailbox, password)
    try:
        with submission(standins) as client:
            assert client.docmd("AUTH", "LOGIN " + b64(standins.mailbox))[0] == 334
            code, reply = client.docmd(b64(password))
        assert code == 235, reply
    finally:
        standins.control.revoke_password(standins.mailbox, password)


def test_bad_password_gets_535_5_7_3(standins):
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(standins.mailbox, "not-the-password")
    assert err.value.smtp_code == 535
    assert err.value.smtp_error.startswith(b"5.7.3 Authentication unsuccessful")
    assert standins.control.mailbox_counters(standins.mailbox)["auth_fail"] == 1


def test_unknown_mailbox_gets_535_5_7_3(standins):
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login("nobody@contoso.com", standins.password)
    assert err.value.smtp_code == 535 and err.value.smtp_error.startswith(b"5.7.3")


def test_smtp_auth_disabled_gets_535_5_7_139(standins):
    standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=True)
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(standins.mailbox, standins.password)
    assert err.value.smtp_code == 535
    assert b"5.7.139" in err.value.smtp_error
    assert b"SmtpClientAuthentication is disabled" in err.value.smtp_error


def test_basic_auth_retired_gets_550_5_7_30(standins):
    standins.control.set_mailbox(standins.mailbox, basic_auth_retired=True)
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(standins.mailbox, standins.password)
    assert err.value.smtp_code == 550
    assert b"5.7.30 Basic authentication is not supported for Client Submission" \
        in err.value.smtp_error


def test_two_passwords_valid_then_one_revoked(standins):
    control = standins.control
    control.add_password(standins.mailbox, "lab-password-new")
    for password in (standins.password, "lab-password-new"):
        with submission(standins) as client:
            code, _reply = client.login(standins.mailbox, password)
            assert code == 235
    control.revoke_password(standins.mailbox, standins.password)
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(standins.mailbox, standins.password)
        assert err.value.smtp_code == 535
    with submission(standins) as client:
        assert client.login(standins.mailbox, "lab-password-new")[0] == 235


def test_send_as_other_from_gets_554_5_2_252(standins):
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.send_message(message(standins.mailbox, "someone@example.net",
                                        header_from="ceo@contoso.com"))
    assert err.value.smtp_code == 554
    assert b"5.2.252 SendAsDenied" in err.value.smtp_error
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail("ceo@contoso.com", ["someone@example.net"],
                            message(standins.mailbox, "someone@example.net").as_bytes())
    assert err.value.smtp_code == 554
    assert standins.control.messages() == []


def test_send_as_granted_is_accepted(standins):
    standins.control.set_mailbox(standins.mailbox, send_as=["alerts@contoso.com"])
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        client.send_message(message("alerts@contoso.com", "someone@example.net"))
    assert standins.control.messages()[0]["envelope_from"] == "alerts@contoso.com"
