# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Entra token stand-in and XOAUTH2 against the SMTP stand-in."""

from __future__ import annotations

import http.client
import smtplib
import ssl
import urllib.error

import pytest

from standins_client import (app_form, get_token, message, submission, tls_context,
                             token_request, xoauth2)


def test_client_credentials_token(standins):
    for tenant in (standins.app.tenant_id, standins.app.tenant_domain):
        status, body = token_request(standins, tenant, app_form(standins.app))
        assert status == 200
        assert body["token_type"] == "Bearer"
        assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
        assert len(body["access_token"]) > 40
    assert standins.control.counters()["entra"]["tokens_issued"] == 2


def test_xoauth2_with_token_sends_as_mailbox(standins):
    token = get_token(standins)
    with submission(standins) as client:
        code, _reply = client.auth("XOAUTH2", xoauth2(standins.mailbox, token))
        assert code == 235
        client.send_message(message(standins.mailbox, "someone@example.net"))
    got = standins.control.messages()[0]
    assert got["auth_identity"] == standins.mailbox and got["auth_mechanism"] == "XOAUTH2"
    assert got["auth_app"] == standins.app.client_id.lower()  # the app registration it logged in as


def test_xoauth2_for_mailbox_the_app_may_not_use(standins):
    token = get_token(standins)
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.auth("XOAUTH2", xoauth2(standins.other_mailbox, token))
    assert err.value.smtp_code == 535 and err.value.smtp_error.startswith(b"5.7.3")


def test_xoauth2_with_bogus_or_expired_token(standins):
    token = get_token(standins)
    standins.control.expire_tokens()
    for candidate in (token, "not-a-token"):
        with submission(standins) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                client.auth("XOAUTH2", xoauth2(standins.mailbox, candidate))
        assert err.value.smtp_code == 535


def test_xoauth2_needs_send_as_app_permission(standins):
    app = standins.app
    standins.control.set_app(app.client_id, tenant=app.tenant_id, secrets=[app.secret],
                             mailboxes=[standins.mailbox], send_as_app=False)
    token = get_token(standins)
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.auth("XOAUTH2", xoauth2(standins.mailbox, token))
    assert err.value.smtp_code == 535


def _assert_aadsts(status, body, expected_status, code, error):
    assert status == expected_status
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    for key in ("timestamp", "trace_id", "correlation_id", "error_uri"):
        assert body[key]


def test_bad_secret_7000215(standins):
    status, body = token_request(standins, standins.app.tenant_id,
                                 app_form(standins.app, client_secret="wrong"))
    _assert_aadsts(status, body, 401, 7000215, "invalid_client")
    assert "wrong" not in body["error_description"]


def test_expired_secret_7000222(standins):
    standins.control.expire_secret(standins.app.client_id, standins.app.secret)
    status, body = token_request(standins, standins.app.tenant_id, app_form(standins.app))
    _assert_aadsts(status, body, 401, 7000222, "invalid_client")


def test_unknown_app_700016(standins):
    status, body = token_request(standins, standins.app.tenant_id,
                                 app_form(standins.app, client_id="00000000-dead-beef-0000-1"))
    _assert_aadsts(status, body, 400, 700016, "unauthorized_client")


def test_unknown_tenant_90002(standins):
    status, body = token_request(standins, "fabrikam.example", app_form(standins.app))
    _assert_aadsts(status, body, 400, 90002, "invalid_request")
    assert "fabrikam.example" in body["error_description"]


def test_entra_down_refuses(standins):
    standins.control.set_entra_fault("down")
    with pytest.raises(urllib.error.URLError) as err:
        token_request(standins, standins.app.tenant_id, app_form(standins.app), timeout=3)
    assert isinstance(err.value.reason, ConnectionRefusedError)
    standins.control.clear_faults("entra")
    assert token_request(standins, standins.app.tenant_id, app_form(standins.app))[0] == 200


def test_entra_500(standins):
    standins.control.set_entra_fault("500")
    status, body = token_request(standins, standins.app.tenant_id, app_form(standins.app))
    assert status == 500 and isinstance(body, bytes)


def test_entra_invalid_json(standins):
    standins.control.set_entra_fault("invalid_json")
    status, body = token_request(standins, standins.app.tenant_id, app_form(standins.app))
    assert status == 200 and isinstance(body, bytes) and body.startswith(b'{"token_type"')


def test_entra_bad_certificate(standins):
    standins.control.set_entra_fault("bad_cert", kind="untrusted")
    with pytest.raises(urllib.error.URLError) as err:
        token_request(standins, standins.app.tenant_id, app_form(standins.app))
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)


def test_entra_is_https_with_the_lab_ca(standins):
    ctx = tls_context(standins.ca)
    host = standins.entra_url.split("//", 1)[1]
    conn = http.client.HTTPSConnection(host, timeout=5, context=ctx)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().status == 404
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        conn.close()
