# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Microsoft Graph sendMail stand-in: tokens from the Entra stand-in, Graph's answers and errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from standins_client import TIMEOUT, app_form, get_token, tls_context, token_request

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def graph_token(standins) -> str:
    status, body = token_request(standins, standins.app.tenant_id, app_form(standins.app, scope=GRAPH_SCOPE))
    assert status == 200, body
    return body["access_token"]


def mail(to=("someone@example.net",), subject="graph stand-in test", **message):
    message.setdefault("subject", subject)
    message.setdefault("body", {"contentType": "Text", "content": "hello from the Graph tests"})
    message.setdefault("toRecipients", [{"emailAddress": {"address": a}} for a in to])
    return {"message": message, "saveToSentItems": False}


def send(standins, user, payload, token=None, raw=None, path=None):
    """POST sendMail; returns (status, headers, parsed JSON or raw bytes)."""
    url = standins.graph_url + (path or f"/v1.0/users/{urllib.parse.quote(user)}/sendMail")
    data = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "client-request-id": "lab-client-1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT, context=tls_context(standins.ca)) as resp:
            status, hdrs, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, body = err.code, err.headers, err.read()
    try:
        return status, hdrs, json.loads(body)
    except ValueError:
        return status, hdrs, body


def refused(standins, status, code, *args, **kw):
    got_status, headers, body = send(standins, *args, **kw)
    assert got_status == status, body
    error = body["error"]
    assert error["code"] == code, error
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert error["innerError"]["client-request-id"] == "lab-client-1"
    assert headers["request-id"] == error["innerError"]["request-id"]
    assert standins.control.messages() == []
    return error["message"], headers


def test_send_mail_is_accepted_with_202_and_recorded(standins):
    # Graph is not SMTP AUTH: a mailbox whose SMTP AUTH is off and whose basic auth is retired
    # still sends through Graph, as GitLab's Graph mailer does after the retirement.
    standins.control.set_mailbox(standins.mailbox, smtp_auth_disabled=True, basic_auth_retired=True)
    token = graph_token(standins)
    status, headers, body = send(standins, standins.mailbox,
                                 mail(to=("a@example.net", "b@example.org"), subject="Proof 42"), token)
    assert (status, body) == (202, b"")
    assert headers["Content-Length"] == "0" and headers["request-id"]
    [got] = standins.control.messages()
    assert got["auth_mechanism"] == "graph"
    assert got["auth_identity"] == standins.mailbox
    assert got["auth_app"] == standins.app.client_id.lower()
    assert got["envelope_from"] == standins.mailbox
    assert got["rcpt_tos"] == ["a@example.net", "b@example.org"]
    assert got["subject"] == "Proof 42" and ["Subject", "Proof 42"] in got["headers"]
    assert got["message_id"].startswith("<") and got["message_id"] in got["data"]
    assert "hello from the Graph tests" in got["data"]
    assert got["listener"] == "graph:443" and got["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert got["peer"] and got["peer"][0]
    assert got["save_to_sent_items"] is False
    counters = standins.control.counters()
    assert counters["graph"]["accepted"] == 1
    assert counters["mailboxes"][standins.mailbox]["messages"] == 1


def test_graph_tokens_carry_mail_send_and_cc_bcc_count_as_recipients(standins):
    token = graph_token(standins)
    payload = mail(to=("a@example.net",))
    payload["message"]["ccRecipients"] = [{"emailAddress": {"address": "c@example.net", "name": "C"}}]
    payload["message"]["bccRecipients"] = [{"emailAddress": {"address": "d@example.net"}}]
    payload["message"]["from"] = {"emailAddress": {"address": standins.mailbox.upper()}}
    del payload["saveToSentItems"]  # optional: Graph saves to Sent Items by default
    assert send(standins, standins.mailbox.upper(), payload, token)[0] == 202
    [got] = standins.control.messages()
    assert got["rcpt_tos"] == ["a@example.net", "c@example.net", "d@example.net"]
    assert got["save_to_sent_items"] is True
    assert "d@example.net" not in got["data"]  # Bcc is not a header


def test_401_invalid_authentication_token(standins):
    exchange_token = get_token(standins)  # for https://outlook.office365.com: not Graph's audience
    text, headers = refused(standins, 401, "InvalidAuthenticationToken", standins.mailbox, mail())
    assert text == "Access token is empty."
    assert headers["WWW-Authenticate"].startswith("Bearer ")
    text, _h = refused(standins, 401, "InvalidAuthenticationToken", standins.mailbox, mail(), exchange_token)
    assert text == "Access token validation failure. Invalid audience."
    text, _h = refused(standins, 401, "InvalidAuthenticationToken", standins.mailbox, mail(), "not-a-jwt")
    assert text.startswith("IDX14100: JWT is not well formed")
    token = graph_token(standins)
    head, payload, signature = token.split(".")
    text, _h = refused(standins, 401, "InvalidAuthenticationToken", standins.mailbox, mail(),
                       f"{head}.{payload}.{signature[:-8]}AAAAAAAA")
    assert text == "Access token validation failure."
    standins.control.expire_tokens()
    text, _h = refused(standins, 401, "InvalidAuthenticationToken", standins.mailbox, mail(), token)
    assert text == "Lifetime validation failed, the token is expired."
    assert standins.control.counters()["graph"]["errors"] == {"InvalidAuthenticationToken": 5}


def test_403_without_mail_send_or_outside_the_apps_mailboxes(standins):
    app = standins.app
    standins.control.set_app(app.client_id, tenant=app.tenant_id, secrets=[app.secret],
                             mailboxes=[standins.mailbox], mail_send=False)
    text, _h = refused(standins, 403, "ErrorAccessDenied", standins.mailbox, mail(), graph_token(standins))
    assert text == "Access is denied. Check credentials and try again."
    standins.control.set_app(app.client_id, tenant=app.tenant_id, secrets=[app.secret],
                             mailboxes=[standins.mailbox])
    text, _h = refused(standins, 403, "ErrorAccessDenied", standins.other_mailbox, mail(), graph_token(standins))
    assert "Blocked by tenant configured AppOnly AccessPolicy settings" in text


def test_403_send_as_denied(standins):
    payload = mail()
    payload["message"]["from"] = {"emailAddress": {"address": standins.other_mailbox}}
    text, _h = refused(standins, 403, "ErrorSendAsDenied", standins.mailbox, payload, graph_token(standins))
    assert text.startswith("The user account which was used to submit this request does not have the right "
                           "to send mail on behalf of the specified sending account.")
    standins.control.set_mailbox(standins.mailbox, send_as=[standins.other_mailbox])
    assert send(standins, standins.mailbox, payload, graph_token(standins))[0] == 202
    assert standins.control.messages()[0]["envelope_from"] == standins.other_mailbox


def test_404_invalid_user(standins):
    text, _h = refused(standins, 404, "ErrorInvalidUser", "nobody@contoso.com", mail(), graph_token(standins))
    assert text == "The requested user 'nobody@contoso.com' is invalid."


@pytest.mark.parametrize("to, words", [
    ((), "A message can't be sent because it contains no recipients."),
    (("not an address",), "Recipient 'not an address' isn't resolved."),
])
def test_400_invalid_recipients(standins, to, words):
    text, _h = refused(standins, 400, "ErrorInvalidRecipients", standins.mailbox, mail(to=to),
                       graph_token(standins))
    assert text.startswith("At least one recipient isn't valid., ") and words in text


@pytest.mark.parametrize("change, words", [
    ({"raw": b'{"message": {"subject": "x"'}, "Invalid JSON."),
    ({"raw": b""}, "Empty Payload. JSON content expected."),
    ({"top": {"importance": "high"}}, "The parameter 'importance' in the request payload is not a valid parameter"),
    ({"top": {"saveToSentItems": "yes"}}, "Cannot convert the literal 'yes' to the expected type 'Edm.Boolean'."),
    ({"message": {"bodyText": "x"}}, "The property 'bodyText' does not exist on type 'microsoft.graph.message'."),
    ({"message": {"body": {"contentType": "Markdown", "content": "x"}}}, "Requested value 'Markdown' was not found."),
    ({"message": {"toRecipients": {"emailAddress": {"address": "a@example.net"}}}}, "a 'StartArray' node was expected"),
    ({"message": {"subject": ["x"]}}, "a 'PrimitiveValue' node was expected"),
])
def test_400_request_body_read(standins, change, words):
    payload = mail()
    payload.update(change.get("top", {}))
    payload["message"].update(change.get("message", {}))
    text, _h = refused(standins, 400, "RequestBodyRead", standins.mailbox, payload, graph_token(standins),
                       raw=change.get("raw"))
    assert words in text


def test_unknown_paths_are_bad_requests(standins):
    text, _h = refused(standins, 400, "BadRequest", standins.mailbox, mail(), graph_token(standins),
                       path=f"/v1.0/users/{standins.mailbox}/sendMessage")
    assert text == "Resource not found for the segment 'sendMessage'."


def test_graph_down_refuses_connections(standins):
    standins.control.set_fault("down", target="graph")
    with pytest.raises(urllib.error.URLError) as err:
        send(standins, standins.mailbox, mail(), "x.y.z")
    assert "refused" in str(err.value.reason).lower()
    standins.control.clear_faults("graph")
    assert send(standins, standins.mailbox, mail(), graph_token(standins))[0] == 202


# -- the collection's Graph client against the stand-in: what each fault is diagnosed as ----------
def client_send(standins, **kw):
    from ansible_collections.mailops.smtp.plugins.module_utils._graph_send import send_mail
    args = dict(token_url=standins.entra_url, client_id=standins.app.client_id, client_secret=standins.app.secret,
                tenant_id=standins.app.tenant_id, graph_url=standins.graph_url, sender=standins.mailbox,
                to="ops@example.net", subject="client %s" % kw.pop("tag", "test"), body="from _graph_send",
                ca_path=standins.ca, timeout=5, scope=GRAPH_SCOPE)
    args.update(kw)
    return send_mail(**args)


def test_the_collections_graph_client_is_accepted_and_recorded(standins):
    result = client_send(standins, tag="ok")
    assert (result["accepted"], result["status"], result["reply"], result["diagnosis"]) == \
        (True, 202, "202 Accepted", None)
    [got] = standins.control.messages()
    assert got["message_id"] == result["message_id"] and got["subject"] == "client ok"
    assert (got["auth_mechanism"], got["auth_app"]) == ("graph", standins.app.client_id.lower())


@pytest.mark.parametrize("setup, code, words", [
    (lambda c, s: c.set_fault("down", target="graph"), "tcp_refused", "no answer from Microsoft Graph"),
    (lambda c, s: c.set_fault("bad_cert", target="graph", kind="expired"), "cert_expired", "certificate"),
    (lambda c, s: c.set_fault("bad_cert", target="graph", kind="untrusted"), "cert_untrusted", "certificate"),
    (lambda c, s: c.set_fault("down", target="entra"), "token_request_failed", "cannot reach the token endpoint"),
    (lambda c, s: c.expire_secret(s.app.client_id, s.app.secret), "token_request_failed", "AADSTS7000222"),
    (lambda c, s: c.set_app(s.app.client_id, tenant=s.app.tenant_id, secrets=[s.app.secret],
                            mailboxes=[s.mailbox], mail_send=False),
     "graph_access_denied", "403 ErrorAccessDenied: Access is denied."),
])
def test_the_collections_graph_client_diagnoses_each_fault(standins, setup, code, words):
    setup(standins.control, standins)
    result = client_send(standins)
    assert result["accepted"] is False and result["diagnosis"] == code, result
    assert words in result["reply"]
    assert standins.app.secret not in result["reply"]
    assert standins.control.messages() == []


def test_the_collections_graph_client_with_an_exchange_scope_is_refused(standins):
    result = client_send(standins, scope="https://outlook.office365.com/.default")
    assert result["diagnosis"] == "graph_token_invalid"
    assert result["reply"] == ("401 InvalidAuthenticationToken: Access token validation failure. "
                               "Invalid audience.")
