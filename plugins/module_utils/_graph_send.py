# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send one message through Microsoft Graph's sendMail, as GitLab's Graph mailer does (internal use only).

An app-only token for Graph comes from the token endpoint with oauth.py's client-credentials
request (scope `<graph endpoint>/.default`), then `POST {graph}/v1.0/users/{sender}/sendMail`.
Graph answers `202 Accepted` with an empty body once it has taken the message; anything else is
a refusal, mapped to a diagnosis code with Graph's own error code and message in `reply`.

The access token and the client secret never appear in a result or an exception.
Standard library only, Python 3.8: send_proof imports it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import ssl
import uuid

try:
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote, urlsplit
    from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener
except ImportError:  # pragma: no cover - Python 2 is not supported
    raise

from ansible_collections.mailops.smtp.plugins.module_utils import oauth
from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import (
    match_cert_error, match_error, match_graph_error)

DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
TOKEN_PATH = "/oauth2/v2.0/token"
MAX_ERROR_BODY = 64 * 1024


def graph_scope(graph_url):
    """The app-only scope of a Graph endpoint: https://graph.microsoft.com/.default for the worldwide cloud."""
    parts = urlsplit(graph_url or DEFAULT_GRAPH_URL)
    return "%s://%s/.default" % (parts.scheme, parts.netloc)


def authority_of(token_url, tenant_id):
    """The authority (https://login.microsoftonline.com) from either the authority itself or the
    tenant's full token URL (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)."""
    url = (token_url or "").rstrip("/")
    if url.endswith(TOKEN_PATH):
        base, _sep, tenant = url[:-len(TOKEN_PATH)].rpartition("/")
        if tenant.lower() != quote(str(tenant_id), safe="").lower():
            raise ValueError("the token URL %s is for tenant %r, not %r: give the authority "
                             "(https://login.microsoftonline.com) or the URL of the same tenant"
                             % (url, tenant, tenant_id))
        return base
    return url


def send_mail(token_url, client_id, client_secret, tenant_id, graph_url, sender, to, subject, body,
              ca_path=None, timeout=10, scope=None, save_to_sent_items=False, message_id=None):
    """Send one text message as `sender`; {accepted, status, reply, diagnosis, message_id, request_id}.

    token_url is the authority (GitLab's microsoft_graph_mailer_azure_ad_endpoint) or the tenant's
    token URL; graph_url is Graph's root (microsoft_graph_mailer_graph_endpoint); scope defaults to
    the Graph endpoint's /.default. message_id: the message's Message-ID (internetMessageId), made up
    when not given; a proof gives its own, so that its record names the message Microsoft 365 keeps.
    Never raises for a refusal or a network fault: the result says it.
    """
    secrets = [client_secret]
    try:
        # The CA file first: a file the host lacks is the host's fault, not the token endpoint's.
        ctx = oauth._ssl_context(ca_path, True)
    except oauth.OAuthError as exc:
        return _refusal(None, _scrub(str(exc), secrets), "local_file_unusable")
    try:
        authority = authority_of(token_url, tenant_id)
        token = oauth.get_access_token(tenant_id, client_id, client_secret, authority=authority,
                                       scope=scope or graph_scope(graph_url), ca_path=ca_path,
                                       timeout=timeout, use_cache=False)["access_token"]
    except (oauth.OAuthError, ValueError) as exc:
        # oauth.py already keeps the secret out of its messages; scrub once more all the same.
        return _refusal(None, _scrub("token request failed: %s" % exc, secrets), "token_request_failed")
    secrets.append(token)
    message_id = message_id or "<%s@%s>" % (uuid.uuid4(), _domain_of(sender))
    request = Request(send_mail_url(graph_url, sender), data=json.dumps(
        send_mail_body(sender, to, subject, body, message_id, save_to_sent_items)).encode("utf-8"),
        method="POST", headers={"Authorization": "Bearer %s" % token, "Content-Type": "application/json",
                                "Accept": "application/json", "client-request-id": str(uuid.uuid4())})
    result = _post(request, ctx, timeout, secrets)
    result["message_id"] = message_id if result["accepted"] else None
    return result


def send_mail_url(graph_url, sender):
    return "%s/v1.0/users/%s/sendMail" % ((graph_url or DEFAULT_GRAPH_URL).rstrip("/"), quote(sender, safe="@"))


def send_mail_body(sender, to, subject, body, message_id, save_to_sent_items=False):
    """sendMail's JSON: the message (from the mailbox itself, so no SendAs right is needed) and whether
    Exchange keeps a copy in Sent Items."""
    recipients = [to] if isinstance(to, str) else list(to)
    return {
        "message": {
            "subject": subject,
            "body": {"contentType": "Text", "content": body},
            "toRecipients": [{"emailAddress": {"address": address}} for address in recipients],
            "internetMessageId": message_id,
        },
        "saveToSentItems": bool(save_to_sent_items),
    }


def _post(request, ctx, timeout, secrets):
    opener = build_opener(ProxyHandler(), HTTPSHandler(context=ctx))
    try:
        response = opener.open(request, timeout=timeout)
    except HTTPError as exc:
        return _graph_refusal(exc, secrets)
    except URLError as exc:
        return _network_fault(getattr(exc, "reason", exc), request.full_url, secrets)
    except (socket.timeout, ssl.SSLError, OSError) as exc:
        return _network_fault(exc, request.full_url, secrets)
    try:
        status = response.getcode()
        request_id = response.headers.get("request-id")
    finally:
        response.close()
    if status == 202:
        return {"accepted": True, "status": 202, "reply": "202 Accepted", "diagnosis": None,
                "request_id": request_id}
    # sendMail answers 202 and nothing else on success; a 200 means something else answered.
    return _refusal(status, "%d from %s: not Graph's 202 Accepted; check the graph endpoint"
                    % (status, request.full_url), "graph_bad_request", request_id)


def _graph_refusal(exc, secrets):
    """Graph's answer {"error": {"code", "message", "innerError": {"request-id", ...}}} in Graph's words."""
    try:
        raw = exc.read(MAX_ERROR_BODY)
    except Exception:  # the body is a courtesy; the status is what counts
        raw = b""
    try:
        error = json.loads(raw.decode("utf-8", "replace")).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    text = str(error.get("message") or exc.reason or "")
    inner = error.get("innerError") if isinstance(error.get("innerError"), dict) else {}
    request_id = inner.get("request-id") or (exc.headers.get("request-id") if exc.headers is not None else None)
    reply = "%d %s: %s" % (exc.code, code or "(no Graph error code)", text.splitlines()[0][:500] if text else "")
    return _refusal(exc.code, _scrub(reply.rstrip(": "), secrets), match_graph_error(exc.code, code), request_id)


def _network_fault(reason, url, secrets):
    text = "%s: %s" % (url, reason)
    if isinstance(reason, ssl.SSLCertVerificationError):
        code = match_cert_error(getattr(reason, "verify_code", None), str(reason))
    elif isinstance(reason, socket.gaierror):
        code = "dns_failure"
    elif isinstance(reason, ssl.SSLError):
        code = match_error("tls", str(reason))
    else:
        code = match_error("connect", str(reason), getattr(reason, "errno", None))
    return _refusal(None, _scrub("no answer from Microsoft Graph at " + text, secrets), code)


def _refusal(status, reply, diagnosis, request_id=None):
    return {"accepted": False, "status": status, "reply": reply, "diagnosis": diagnosis,
            "request_id": request_id, "message_id": None}


def _scrub(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def _domain_of(sender):
    domain = str(sender).rpartition("@")[2]
    return domain if domain and all(c.isalnum() or c in ".-" for c in domain) else "mailops.invalid"
