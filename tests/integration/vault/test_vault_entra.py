# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""OAuth credentials from Vault against the lab's Entra stand-in, and XOAUTH2 on its SMTP stand-in.

Lab only (`.lab/ctl-exec`): login.microsoftonline.com and smtp.office365.com resolve to the
stand-ins inside the controller namespace. Every case starts from an empty token cache.
"""

from __future__ import annotations

import base64
import secrets
import smtplib
import ssl

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils.oauth import xoauth2_string
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import fetch_credentials
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions


@pytest.fixture
def entra(vault, request):
    if not vault.lab:
        pytest.skip("the Entra and SMTP stand-ins are part of the lab: run under .lab/ctl-exec")
    standins = request.getfixturevalue("standins")
    standins.control.clear_faults("entra")
    yield standins
    standins.control.clear_faults("entra")


def fetch(vault, entra, path, **kw):
    kw.setdefault("mount", vault.info["kv2"])
    kw.setdefault("url", vault.addr_https)
    kw.setdefault("ca_path", vault.ca_path)
    kw.setdefault("timeout", 5)
    kw.setdefault("retries", 1)
    kw.setdefault("auth", {"method": "token", "token_file": vault.info["read_token_file"]})
    kw.setdefault("fetch_access_token", True)
    kw.setdefault("oauth_authority", entra.entra_url)
    kw.setdefault("oauth_ca_path", entra.ca)
    return fetch_credentials(VaultOptions(dict(kw, path=path), ACTION_SPEC, environ={}, warn=[].append))[0]


def xoauth2_login(entra, username, token):
    """AUTH XOAUTH2 on the SMTP stand-in, as a mail client would; returns (code, reply)."""
    ctx = ssl.create_default_context(cafile=entra.ca)
    with smtplib.SMTP(entra.smtp_host, 587, timeout=10) as smtp:
        smtp.ehlo("vault-test.lab.test")
        smtp.starttls(context=ctx)
        smtp.ehlo("vault-test.lab.test")
        blob = base64.b64encode(xoauth2_string(username, token).encode()).decode()
        code, reply = smtp.docmd("AUTH", "XOAUTH2 " + blob)
        if code == 235:
            smtp.sendmail(username, [username], "Subject: vault xoauth2\r\n\r\nfrom the vault tests\r\n")
        return code, reply.decode()


def test_token_from_vault_credential_works_for_xoauth2(vault, entra):
    entra.control.clear_messages()
    cred = fetch(vault, entra, "smtp/lab-app")
    assert cred["type"] == "oauth2" and cred["username"] == entra.mailbox
    assert cred["access_token"] and cred["expires_at"] > 0
    code, reply = xoauth2_login(entra, cred["username"], cred["access_token"])
    assert code == 235, reply
    sent = [m for m in entra.control.messages() if m.get("auth_mechanism") == "XOAUTH2"]
    assert len(sent) == 1 and sent[0]["auth_identity"].lower() == entra.mailbox.lower()


def test_a_made_up_token_is_refused_by_smtp(vault, entra):
    code, reply = xoauth2_login(entra, entra.mailbox, "not-a-token-" + secrets.token_hex(8))
    assert code == 535 and reply.startswith("5.7.3")


@pytest.mark.parametrize("path,code,words", [
    ("smtp/lab-app-wrong-secret", 7000215, ("client secret is invalid", "Value (not its Secret ID)")),
    ("smtp/lab-app-unknown-app", 700016, ("was not found in the tenant", "Check client_id and tenant_id")),
    ("smtp/lab-app-unknown-tenant", 90002, ("tenant was not found", "Check tenant_id")),
])
def test_aadsts_errors_are_explained(vault, entra, path, code, words):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, entra, path)
    msg = str(err.value)
    assert "AADSTS%d" % code in msg and path in msg
    for word in words:
        assert word in msg
    assert vault.info["lab_secrets"][path]["client_secret"] not in msg


def test_expired_secret_aadsts7000222(vault, entra):
    # An app of this test's own, so expiring its secret disturbs nobody else.
    client_id, secret = vault.info["expiring_app"]
    entra.control.set_app(client_id, tenant=entra.app.tenant_id, secrets=[secret], mailboxes=[entra.mailbox])
    try:
        assert fetch(vault, entra, "smtp/lab-app-expiring")["access_token"]
        entra.control.expire_secret(client_id, secret)
        from ansible_collections.mailops.smtp.plugins.module_utils.oauth import clear_cache
        clear_cache()
        with pytest.raises(VaultCredentialError) as err:
            fetch(vault, entra, "smtp/lab-app-expiring")
    finally:
        entra.control.remove_app(client_id)
    msg = str(err.value)
    assert "AADSTS7000222" in msg and "has expired" in msg and "Create a new secret" in msg
    assert secret not in msg


@pytest.mark.parametrize("fault,words", [
    ("down", ("cannot reach the token endpoint", "onnection refused", "gave up after 2 attempts",
              "Check oauth_authority")),
    ("500", ("failed with HTTP 500", "retry later", "gave up after 2 attempts")),
    ("invalid_json", ("without JSON", "oauth_authority is an OAuth 2.0 authority")),
])
def test_entra_faults_are_clear(vault, entra, fault, words):
    entra.control.set_entra_fault(fault)
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, entra, "smtp/lab-app")
    msg = str(err.value)
    assert "login.microsoftonline.com" in msg and "smtp/lab-app" in msg
    for word in words:
        assert word in msg
    assert entra.app.secret not in msg
