# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""_graph_send: a Graph token from the token endpoint, then sendMail, against a scripted HTTPS server."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _graph_send as g
from ansible_collections.mailops.smtp.plugins.module_utils import oauth
from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import CATALOGUE

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))
from tests.unit._https import ScriptedJSONServer  # noqa: E402

SECRET = "Gr4ph~Secret.Value_%06d" % random.randint(0, 999999)
TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2ln%06d" % random.randint(0, 999999)
OK_TOKEN = (200, {"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})


def _record(handler, body):
    return {"path": handler.path, "headers": dict(handler.headers.items()), "body": body.decode()}


def graph_error(status, code, message, echo_token=False):
    if echo_token:
        message += " (token %s, secret %s)" % (TOKEN, SECRET)
    return (status, {"error": {"code": code, "message": message, "innerError": {
        "date": "2026-12-07T12:00:00", "request-id": "rid-1", "client-request-id": "cid-1"}}})


@pytest.fixture
def server(tmp_path):
    srv = ScriptedJSONServer(_record, (202, b""), tls_dir=tmp_path, cert_name="graph-and-token")
    oauth.clear_cache()
    yield srv
    srv.close()


def send(server, **kw):
    args = dict(token_url=server.url, client_id="app-1", client_secret=SECRET, tenant_id="contoso-tenant",
                graph_url=server.url, sender="svc-mailer@contoso.com", to="someone@example.net",
                subject="Proof", body="hello", ca_path=server.ca_path, timeout=5,
                scope="https://graph.microsoft.com/.default")
    args.update(kw)
    return g.send_mail(**args)


def assert_no_secret(result):
    text = json.dumps(result)
    assert TOKEN not in text and SECRET not in text


def test_token_for_graph_then_send_mail_202(server):
    server.queue[:] = [OK_TOKEN, (202, b"")]
    result = send(server, to=["a@example.net", "b@example.net"])
    assert result["accepted"] is True and result["status"] == 202
    assert result["reply"] == "202 Accepted" and result["diagnosis"] is None
    assert result["message_id"].startswith("<") and result["message_id"].endswith("@contoso.com>")
    assert_no_secret(result)
    token_req, graph_req = server.requests
    form = urllib.parse.parse_qs(token_req["body"])
    assert token_req["path"] == "/contoso-tenant/oauth2/v2.0/token"
    assert form["grant_type"] == ["client_credentials"] and form["client_id"] == ["app-1"]
    assert form["scope"] == ["https://graph.microsoft.com/.default"]
    assert graph_req["path"] == "/v1.0/users/svc-mailer@contoso.com/sendMail"
    assert graph_req["headers"]["Authorization"] == "Bearer " + TOKEN
    assert graph_req["headers"]["Content-Type"] == "application/json"
    assert json.loads(graph_req["body"]) == {
        "message": {"subject": "Proof", "body": {"contentType": "Text", "content": "hello"},
                    "toRecipients": [{"emailAddress": {"address": "a@example.net"}},
                                     {"emailAddress": {"address": "b@example.net"}}],
                    "internetMessageId": result["message_id"]},
        "saveToSentItems": False}


def test_a_given_message_id_is_the_message_s_internet_message_id(server):
    server.queue[:] = [OK_TOKEN, (202, b"")]
    result = send(server, message_id="<mailops-proof.abc@web1>")
    assert result["accepted"] is True and result["message_id"] == "<mailops-proof.abc@web1>"
    assert json.loads(server.requests[1]["body"])["message"]["internetMessageId"] == "<mailops-proof.abc@web1>"


def test_the_scope_follows_the_graph_endpoint():
    assert g.graph_scope("https://graph.microsoft.com") == "https://graph.microsoft.com/.default"
    assert g.graph_scope("https://graph.microsoft.us/") == "https://graph.microsoft.us/.default"
    assert g.graph_scope(None) == "https://graph.microsoft.com/.default"


def test_the_token_url_may_be_the_authority_or_the_tenants_url(server):
    full = server.url + "/contoso-tenant/oauth2/v2.0/token"
    assert g.authority_of(full, "contoso-tenant") == server.url
    assert g.authority_of(server.url + "/", "contoso-tenant") == server.url
    server.queue[:] = [OK_TOKEN, (202, b"")]
    assert send(server, token_url=full)["accepted"] is True
    assert server.requests[0]["path"] == "/contoso-tenant/oauth2/v2.0/token"
    other = send(server, token_url=server.url + "/fabrikam/oauth2/v2.0/token")
    assert other["accepted"] is False and other["diagnosis"] == "token_request_failed"
    assert "is for tenant 'fabrikam'" in other["reply"]


@pytest.mark.parametrize("answer, code, words", [
    (graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."),
     "graph_token_invalid", "401 InvalidAuthenticationToken: Access token validation failure. Invalid audience."),
    (graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
     "graph_access_denied", "403 ErrorAccessDenied: Access is denied."),
    (graph_error(403, "ErrorSendAsDenied", "The user account which was used to submit this request does not "
                 "have the right to send mail on behalf of the specified sending account., Cannot submit message."),
     "send_as_denied", "403 ErrorSendAsDenied: The user account"),
    (graph_error(404, "ErrorInvalidUser", "The requested user 'svc-mailer@contoso.com' is invalid."),
     "graph_invalid_user", "404 ErrorInvalidUser: The requested user 'svc-mailer@contoso.com' is invalid."),
    (graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent "
                 "because it contains no recipients."), "graph_invalid_recipients", "400 ErrorInvalidRecipients"),
    (graph_error(400, "RequestBodyRead", "Invalid JSON."), "graph_bad_request", "400 RequestBodyRead: Invalid JSON."),
    (graph_error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
     "temporary_failure", "429 ApplicationThrottled"),
    ((503, b"<html>Service Unavailable</html>"), "temporary_failure", "503 (no Graph error code): Service Unavailable"),
    ((401, b""), "graph_token_invalid", "401 (no Graph error code)"),
])
def test_graph_refusals_keep_graphs_words(server, answer, code, words):
    server.queue[:] = [OK_TOKEN, answer]
    result = send(server)
    assert result["accepted"] is False and result["status"] == answer[0]
    assert result["diagnosis"] == code and code in CATALOGUE
    assert result["reply"].startswith(words), result["reply"]
    assert result["message_id"] is None
    if isinstance(answer[1], dict):
        assert result["request_id"] == "rid-1"


def test_a_refusal_that_echoes_the_token_or_secret_is_scrubbed(server):
    server.queue[:] = [OK_TOKEN, graph_error(401, "InvalidAuthenticationToken", "bad", echo_token=True)]
    result = send(server)
    assert result["diagnosis"] == "graph_token_invalid" and "********" in result["reply"]
    assert_no_secret(result)


def test_a_200_is_not_graphs_202(server):
    server.queue[:] = [OK_TOKEN, (200, {"value": []})]
    result = send(server)
    assert result["accepted"] is False and result["status"] == 200
    assert result["diagnosis"] == "graph_bad_request" and "not Graph's 202 Accepted" in result["reply"]


def test_token_endpoint_refusal_stops_before_graph(server):
    server.queue[:] = [(401, {"error": "invalid_client", "error_codes": [7000215],
                              "error_description": "AADSTS7000215: Invalid client secret provided. " + SECRET})]
    result = send(server)
    assert result == {"accepted": False, "status": None, "diagnosis": "token_request_failed",
                      "reply": result["reply"], "request_id": None, "message_id": None}
    assert "AADSTS7000215" in result["reply"] and "client secret is invalid" in result["reply"]
    assert len(server.requests) == 1  # no sendMail without a token
    assert_no_secret(result)


def _closed_port(host):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def test_graph_refusing_connections_is_tcp_refused(server):
    server.queue[:] = [OK_TOKEN]
    port = _closed_port(server.host)
    result = send(server, graph_url="https://%s:%d" % (server.host, port))
    assert result["accepted"] is False and result["status"] is None
    assert result["diagnosis"] == "tcp_refused" and "no answer from Microsoft Graph" in result["reply"]
    assert_no_secret(result)


def test_untrusted_graph_certificate(server, tmp_path):
    other = ScriptedJSONServer(_record, (202, b""), tls_dir=tmp_path / "other", cert_name="not-graph")
    try:
        server.queue[:] = [OK_TOKEN]
        result = send(server, graph_url=other.url)
    finally:
        other.close()
    assert result["accepted"] is False and result["diagnosis"] == "cert_untrusted"
    assert other.requests == []  # nothing was sent to an endpoint that could not prove its name


def test_a_missing_ca_file(server, tmp_path):
    result = send(server, ca_path=str(tmp_path / "no-such-ca.pem"))
    assert result["accepted"] is False and result["diagnosis"] == "local_file_unusable"
    assert "no-such-ca.pem" in result["reply"] and server.requests == []


def test_imports_and_builds_the_request_on_python38(tmp_path):
    py38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")
    if not py38.exists():
        pytest.skip("no Python 3.8")
    root = tmp_path / "ac" / "ansible_collections" / "mailops"
    root.mkdir(parents=True)
    (root / "smtp").symlink_to(REPO)
    code = ("from ansible_collections.mailops.smtp.plugins.module_utils import _graph_send as g;"
            "print(g.send_mail_url('https://graph.microsoft.com/', 'svc@contoso.com'));"
            "print(g.graph_scope('https://graph.microsoft.com'))")
    proc = subprocess.run([str(py38), "-c", code], env={"PYTHONPATH": str(tmp_path / "ac")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["https://graph.microsoft.com/v1.0/users/svc@contoso.com/sendMail",
                                   "https://graph.microsoft.com/.default"]
