# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Microsoft Graph stand-in for `graph.microsoft.com`: `sendMail` only, as GitLab's Graph mailer uses it.

POST /v1.0/users/{id}/sendMail with `Authorization: Bearer <token>` and a JSON body
{"message": {...}, "saveToSentItems": bool}. As Microsoft Graph:
- the token must be one the Entra stand-in signed, for the audience https://graph.microsoft.com,
  unexpired and not revoked (401 InvalidAuthenticationToken), with the application permission
  Mail.Send in `roles` (403 ErrorAccessDenied);
- {id} is the mailbox's address (404 ErrorInvalidUser for any other), and the app must be allowed
  that mailbox: the app's `mailboxes` list stands for an application access policy
  (403 ErrorAccessDenied, "Blocked by tenant configured AppOnly AccessPolicy settings");
- the body is read as OData reads it: unknown parameters or properties, wrong JSON kinds, a
  non-boolean saveToSentItems, an unknown body contentType give 400 RequestBodyRead; no recipient
  or an address that does not resolve gives 400 ErrorInvalidRecipients;
- a `from` other than the mailbox (or its send_as list) gives 403 ErrorSendAsDenied;
- success is `202 Accepted` with an empty body, and the message is recorded in the store the
  SMTP stand-in uses, with auth_mechanism "graph" and auth_app the token's client id.
Graph is not SMTP AUTH: `smtp_auth_disabled` and `basic_auth_retired` do not apply to it.

Faults (target "graph"): down (listener closed: connection refused), bad_cert(kind=...).
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
import uuid
from email.message import EmailMessage
from urllib.parse import unquote

import jwt

from tests.lab.standins import replies
from tests.lab.standins.entra import EntraServer, _Handler, _TLSServer
from tests.lab.standins.jwt_tokens import GRAPH_AUDIENCE, MAIL_SEND

log = logging.getLogger("standins.graph")
# Graph refuses requests over 4 MB; nothing the lab sends comes near it.
MAX_BODY = 4 * 1024 * 1024
SEND_MAIL_PARAMETERS = {"message", "saveToSentItems"}
MESSAGE_PROPERTIES = {
    "subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from", "sender",
    "importance", "internetMessageHeaders", "internetMessageId", "attachments", "categories",
    "isDeliveryReceiptRequested", "isReadReceiptRequested", "flag", "mentions",
}
RECIPIENT_LISTS = ("toRecipients", "ccRecipients", "bccRecipients")
BODY_TYPES = {"text": "Text", "html": "HTML"}
MESSAGE_ID_RE = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
ADDRESS_RE = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DIAGNOSTIC = json.dumps({"ServerInfo": {"DataCenter": "West Europe", "Slice": "E", "Ring": "5",
                                        "ScaleUnit": "001", "RoleInstance": "AM2PEPF0000LAB1"}})


class GraphError(Exception):
    """A refusal, answered as Graph answers it."""

    def __init__(self, code: str, **fields):
        status, template = replies.GRAPH_ERRORS[code]
        super().__init__(template.format(**fields))
        self.code, self.status = code, status


class _GraphTLSServer(_TLSServer):
    service = "graph"


class _GraphHandler(_Handler):
    def do_GET(self):
        self._refuse(GraphError("BadRequest", segment=self._segments()[-1] if self._segments() else ""))

    def do_POST(self):
        state = self.server.state
        state.count("graph", "requests")
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        raw = self.rfile.read(length)
        try:
            record = send_mail(state, self._segments(), self.headers.get("Authorization", ""), raw)
        except GraphError as err:
            self._refuse(err)
            return
        record.update(peer=list(self.client_address), tls_version=self.connection.version(),
                      listener=f"graph:{self.server.server_address[1]}")
        state.record_message(record)
        state.count("graph", "accepted")
        self._answer(202, b"")

    def _segments(self) -> list[str]:
        return [unquote(s) for s in self.path.split("?", 1)[0].strip("/").split("/") if s]

    def _refuse(self, err: GraphError) -> None:
        self.server.state.count("graph_error", err.code)
        body = {"error": {"code": err.code, "message": str(err), "innerError": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "request-id": self._request_id, "client-request-id": self._client_request_id}}}
        self._answer(err.status, json.dumps(body).encode(), www_auth=err.status == 401)

    def _answer(self, status: int, data: bytes, www_auth: bool = False) -> None:
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("request-id", self._request_id)
        self.send_header("client-request-id", self._client_request_id)
        self.send_header("x-ms-ags-diagnostic", DIAGNOSTIC)
        self.send_header("Strict-Transport-Security", "max-age=31536000")
        if www_auth:
            self.send_header("WWW-Authenticate", 'Bearer realm="", authorization_uri='
                             '"https://login.microsoftonline.com/common/oauth2/authorize", '
                             'client_id="00000003-0000-0000-c000-000000000000"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @property
    def _request_id(self) -> str:
        if not getattr(self, "_rid", None):
            self._rid = str(uuid.uuid4())
        return self._rid

    @property
    def _client_request_id(self) -> str:
        return self.headers.get("client-request-id") or self._request_id


def send_mail(state, segments: list[str], authorization: str, raw: bytes) -> dict:
    """Check one sendMail request as Graph does; the message record, or raise GraphError."""
    user = _route(segments)
    claims = _check_token(state, authorization)
    payload = _read_body(raw)
    mailbox = _check_mailbox(state, user, claims)
    message = payload["message"]
    recipients = _recipients(message)
    sender = _from_address(message) or mailbox
    if not state.send_as_allowed(mailbox, sender):
        raise GraphError("ErrorSendAsDenied")
    return _record(mailbox, sender, recipients, message, payload.get("saveToSentItems", True),
                   str(claims["appid"]).lower())


def _route(segments: list[str]) -> str:
    """The {id} of /v1.0/users/{id}/sendMail (Graph's segments are case-insensitive)."""
    lowered = [s.lower() for s in segments]
    if len(segments) == 4 and lowered[0] == "v1.0" and lowered[1] == "users" and lowered[3] == "sendmail":
        return segments[2]
    bad = next((s for s, want in zip(segments, ("v1.0", "users", None, "sendMail"))
                if want and s.lower() != want.lower()), segments[-1] if segments else "")
    raise GraphError("BadRequest", segment=bad)


def _check_token(state, authorization: str) -> dict:
    scheme, _sep, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise GraphError("InvalidAuthenticationToken", detail=replies.GRAPH_TOKEN_EMPTY)
    if token.count(".") != 2:
        raise GraphError("InvalidAuthenticationToken", detail=replies.GRAPH_TOKEN_MALFORMED)
    claims = state.signer.verify(token, audience=GRAPH_AUDIENCE)
    if claims is None:
        if state.signer.verify(token, audience=_audience_of(token)) is not None:
            raise GraphError("InvalidAuthenticationToken", detail=replies.GRAPH_TOKEN_AUDIENCE)
        raise GraphError("InvalidAuthenticationToken", detail=_why_invalid(state, token))
    with state.lock:
        grant = state.tokens.get(token)
        revoked = grant is not None and grant["revoked"]
    if revoked:  # expire_tokens: as after the token's expiry
        raise GraphError("InvalidAuthenticationToken", detail=replies.GRAPH_TOKEN_EXPIRED)
    if MAIL_SEND not in claims.get("roles", []):
        raise GraphError("ErrorAccessDenied", detail=replies.GRAPH_ACCESS_DENIED)
    return claims


def _audience_of(token: str) -> str:
    try:
        return str(jwt.decode(token, options={"verify_signature": False}).get("aud", ""))
    except jwt.PyJWTError:
        return ""


def _why_invalid(state, token: str) -> str:
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return replies.GRAPH_TOKEN_MALFORMED
    if isinstance(claims.get("exp"), int) and claims["exp"] <= time.time():
        return replies.GRAPH_TOKEN_EXPIRED
    return replies.GRAPH_TOKEN_INVALID


def _check_mailbox(state, user: str, claims: dict) -> str:
    mailbox = user.lower()
    with state.lock:
        exists = mailbox in state.mailboxes
        app = state.apps.get(str(claims.get("appid", "")).lower())
        allowed = app is not None and mailbox in app["mailboxes"]
    if not exists:
        raise GraphError("ErrorInvalidUser", user=user)
    if not allowed:
        raise GraphError("ErrorAccessDenied", detail=replies.GRAPH_POLICY_DENIED)
    return mailbox


# -- the body, read as OData reads it ---------------------------------------------------------
def _read_body(raw: bytes) -> dict:
    if not raw.strip():
        raise GraphError("RequestBodyRead", detail=replies.GRAPH_EMPTY_PAYLOAD)
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise GraphError("RequestBodyRead", detail=replies.GRAPH_INVALID_JSON.format(
            reason=getattr(exc, "msg", "The input is not UTF-8.") + ".")) from None
    if not isinstance(payload, dict):
        raise GraphError("RequestBodyRead", detail=replies.GRAPH_EMPTY_PAYLOAD)
    for name in payload:
        if name not in SEND_MAIL_PARAMETERS:
            raise GraphError("RequestBodyRead", detail=replies.GRAPH_UNKNOWN_PARAMETER.format(name=name))
    if "saveToSentItems" in payload and not isinstance(payload["saveToSentItems"], bool):
        raise GraphError("RequestBodyRead", detail=replies.GRAPH_NOT_A_BOOLEAN.format(
            value=payload["saveToSentItems"]))
    message = payload.get("message")
    if message is None:
        raise GraphError("ErrorInvalidRecipients", detail=replies.GRAPH_NO_RECIPIENTS)
    _expect(message, dict, "message", "resource")
    for name in message:
        if name not in MESSAGE_PROPERTIES:
            raise GraphError("RequestBodyRead", detail=replies.GRAPH_UNKNOWN_PROPERTY.format(
                name=name, type="microsoft.graph.message"))
    if "subject" in message and message["subject"] is not None:
        _expect(message["subject"], str, "subject", "primitive")
    if message.get("body") is not None:
        _check_item_body(message["body"])
    for name in RECIPIENT_LISTS + ("replyTo",):
        if message.get(name) is not None:
            _expect(message[name], list, name, "collection")
            for item in message[name]:
                _check_recipient(item, name)
    if message.get("from") is not None:
        _check_recipient(message["from"], "from")
    return payload


def _expect(value, kind, name: str, wanted: str) -> None:
    if isinstance(value, kind):
        return
    found = {dict: "StartObject", list: "StartArray"}.get(type(value), "PrimitiveValue")
    expected = {"resource": "resource reference", "collection": "collection", "primitive": "value"}[wanted]
    node = {"resource": "StartObject", "collection": "StartArray", "primitive": "PrimitiveValue"}[wanted]
    raise GraphError("RequestBodyRead", detail=replies.GRAPH_WRONG_KIND.format(
        found=found, expected=expected, name=name, wanted=node))


def _check_item_body(body) -> None:
    _expect(body, dict, "body", "resource")
    for name in body:
        if name not in ("contentType", "content"):
            raise GraphError("RequestBodyRead", detail=replies.GRAPH_UNKNOWN_PROPERTY.format(
                name=name, type="microsoft.graph.itemBody"))
    kind = body.get("contentType")
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in BODY_TYPES):
        raise GraphError("RequestBodyRead", detail=replies.GRAPH_BAD_ENUM.format(value=kind))
    if body.get("content") is not None:
        _expect(body["content"], str, "content", "primitive")


def _check_recipient(item, name: str) -> None:
    _expect(item, dict, name, "resource")
    for key in item:
        if key != "emailAddress":
            raise GraphError("RequestBodyRead", detail=replies.GRAPH_UNKNOWN_PROPERTY.format(
                name=key, type="microsoft.graph.recipient"))
    address = item.get("emailAddress")
    if address is not None:
        _expect(address, dict, "emailAddress", "resource")
        for key in address:
            if key not in ("address", "name"):
                raise GraphError("RequestBodyRead", detail=replies.GRAPH_UNKNOWN_PROPERTY.format(
                    name=key, type="microsoft.graph.emailAddress"))


def _address(item) -> str:
    value = (item.get("emailAddress") or {}).get("address")
    return value if isinstance(value, str) else ""


def _recipients(message: dict) -> list[str]:
    """Every recipient, resolved as Exchange resolves them before it submits the message."""
    found = [_address(item) for name in RECIPIENT_LISTS for item in (message.get(name) or [])]
    if not found:
        raise GraphError("ErrorInvalidRecipients", detail=replies.GRAPH_NO_RECIPIENTS)
    for address in found:
        if not ADDRESS_RE.match(address):
            raise GraphError("ErrorInvalidRecipients", detail=replies.GRAPH_UNRESOLVED.format(address=address))
    return found


def _from_address(message: dict) -> str | None:
    if not message.get("from"):
        return None
    return _address(message["from"]) or None


def _record(mailbox: str, sender: str, recipients: list[str], message: dict, save: bool, app: str) -> dict:
    """The message as Exchange would submit it, in the SMTP stand-in's record shape."""
    # internetMessageId is writable on a new message; Exchange makes one up otherwise.
    msgid = message.get("internetMessageId")
    if not (isinstance(msgid, str) and MESSAGE_ID_RE.match(msgid)):
        msgid = email.utils.make_msgid(domain="LAB0PR00MB0001.namprd00.prod.outlook.com")
    mime = EmailMessage()
    mime["From"] = sender
    for name, header in (("toRecipients", "To"), ("ccRecipients", "Cc")):
        addresses = [_address(i) for i in message.get(name) or []]
        if addresses:
            mime[header] = ", ".join(addresses)
    mime["Subject"] = message.get("subject") or ""
    mime["Message-ID"] = msgid
    mime["Date"] = email.utils.formatdate(usegmt=True)
    body = message.get("body") or {}
    subtype = "html" if str(body.get("contentType", "text")).lower() == "html" else "plain"
    mime.set_content(body.get("content") or "", subtype=subtype)
    return {
        "envelope_from": sender,
        "rcpt_tos": recipients,
        "headers": [[k, str(v)] for k, v in mime.items()],
        "data": mime.as_string(),
        "subject": message.get("subject") or "",
        "message_id": msgid,
        "save_to_sent_items": save,
        "auth_identity": mailbox,
        "auth_mechanism": "graph",
        "auth_app": app,
        "received_at": time.time(),
        "queue_id": msgid.strip("<>"),
        "delayed": False,
        "delivery": None,
        "smtputf8": False,
        "ext_params": {},
    }


class GraphServer(EntraServer):
    """Runs the Graph endpoint on a thread, beside Entra's; `down()` / `up()` as Entra's."""

    service = "graph"
    server_class = _GraphTLSServer
    handler = _GraphHandler
