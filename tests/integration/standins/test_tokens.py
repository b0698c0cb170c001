# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra's access tokens are signed JWTs of real size and claims; Exchange Online checks them.

Real app-only tokens for https://outlook.office365.com are 1.5 to 3 KB (m365-facts.md), so an
AUTH XOAUTH2 line is several KB; Exchange Online accepts it, and refuses a token whose
signature, audience, SMTP.SendAsApp role or expiry is wrong with 535 5.7.3.
"""

from __future__ import annotations

import base64
import json
import smtplib
import time

import jwt
import pytest

from standins_client import app_form, get_token, message, submission, token_request, xoauth2


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _refused(standins, token: str, mailbox=None):
    with submission(standins) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.auth("XOAUTH2", xoauth2(mailbox or standins.mailbox, token))
    return err.value


def test_token_is_a_signed_jwt_of_real_size_and_claims(standins):
    token = get_token(standins)
    assert 1500 <= len(token) <= 3000, len(token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"]
    claims = _claims(token)
    assert claims["aud"] == "https://outlook.office365.com"
    assert claims["roles"] == ["SMTP.SendAsApp"]
    assert claims["tid"] == standins.app.tenant_id
    assert claims["appid"] == standins.app.client_id
    assert claims["iss"] == f"https://sts.windows.net/{standins.app.tenant_id}/"
    assert 3000 < claims["exp"] - time.time() <= 3600


def test_a_several_kb_auth_line_is_accepted_in_one_line_and_after_a_challenge(standins):
    token = get_token(standins)
    blob = base64.b64encode(xoauth2(standins.mailbox, token)().encode()).decode()
    assert len("AUTH XOAUTH2 " + blob) > 2000
    with submission(standins) as client:
        code, reply = client.docmd("AUTH", "XOAUTH2 " + blob)
        assert code == 235, reply
        client.send_message(message(standins.mailbox, "someone@example.net"))
    with submission(standins) as client:
        assert client.docmd("AUTH", "XOAUTH2")[0] == 334
        assert client.docmd(blob)[0] == 235
    assert [m["auth_mechanism"] for m in standins.control.messages()] == ["XOAUTH2"]


def test_a_token_with_a_forged_signature_is_refused(standins):
    header, payload, signature = get_token(standins).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other_key = jwt.encode(claims, "x" * 32, algorithm="HS256")  # the same claims, not signed by Entra
    forged_rs = f"{header}.{payload}.{signature[:-8]}AAAAAAAA"
    for token in (forged_rs, other_key):
        err = _refused(standins, token)
        assert err.smtp_code == 535 and err.smtp_error.startswith(b"5.7.3 Authentication unsuccessful")


def test_a_token_for_another_audience_is_refused(standins):
    status, body = token_request(standins, standins.app.tenant_id,
                                 app_form(standins.app, scope="https://graph.microsoft.com/.default"))
    assert status == 200
    assert _claims(body["access_token"])["aud"] == "https://graph.microsoft.com"
    assert _refused(standins, body["access_token"]).smtp_code == 535


def test_a_token_without_the_send_as_app_role_is_refused(standins):
    app = standins.app
    standins.control.set_app(app.client_id, tenant=app.tenant_id, secrets=[app.secret],
                             mailboxes=[standins.mailbox], send_as_app=False)
    token = get_token(standins)
    assert "roles" not in _claims(token)
    assert _refused(standins, token).smtp_code == 535


def test_an_expired_token_is_refused(standins):
    standins.control.set_token_lifetime(1)
    token = get_token(standins)
    time.sleep(2.1)
    err = _refused(standins, token)
    assert err.smtp_code == 535 and err.smtp_error.startswith(b"5.7.3")


def test_the_control_socket_lists_every_token_issued(standins):
    first, second = get_token(standins), get_token(standins)
    listed = standins.control.issued_tokens()
    assert [t["token"] for t in listed] == [first, second]
    assert {t["client_id"] for t in listed} == {standins.app.client_id}
    assert standins.control.issued_tokens(client_id="someone-else") == []
