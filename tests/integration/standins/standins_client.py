# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small client helpers shared by the stand-in tests (real smtplib/ssl/urllib clients)."""

from __future__ import annotations

import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage

TIMEOUT = 5


def tls_context(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def connect(standins, *, port: int | None = None, timeout: float = TIMEOUT, **kw) -> smtplib.SMTP:
    host, default_port = standins.smtp_addr
    return smtplib.SMTP(host, port or default_port, timeout=timeout, **kw)


def submission(standins, **kw) -> smtplib.SMTP:
    """Connected, STARTTLS done, EHLO'd again: ready for AUTH."""
    client = connect(standins, **kw)
    client.ehlo("client.lab")
    client.starttls(context=tls_context(standins.ca))
    client.ehlo("client.lab")
    return client


def message(sender: str, to: str, subject: str = "stand-in test", header_from: str | None = None):
    msg = EmailMessage()
    msg["From"] = header_from or sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("hello from the stand-in tests\n")
    return msg


def xoauth2(mailbox: str, token: str):
    return lambda challenge=None: f"user={mailbox}\x01auth=Bearer {token}\x01\x01"


def token_request(standins, tenant: str, form: dict, *, timeout: float = TIMEOUT):
    """POST to the Entra stand-in; returns (status, parsed JSON or raw bytes)."""
    url = f"{standins.entra_url}/{urllib.parse.quote(tenant)}/oauth2/v2.0/token"
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls_context(standins.ca)) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def app_form(app, **overrides) -> dict:
    form = {"grant_type": "client_credentials", "client_id": app.client_id,
            "client_secret": app.secret, "scope": "https://outlook.office365.com/.default"}
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def get_token(standins) -> str:
    status, body = token_request(standins, standins.app.tenant_id, app_form(standins.app))
    assert status == 200, body
    return body["access_token"]


def wait_for(predicate, timeout: float = 5.0):
    """Poll a condition that the server reaches asynchronously (e.g. after a close)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
