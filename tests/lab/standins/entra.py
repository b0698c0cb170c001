# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Entra ID token stand-in for `login.microsoftonline.com` (client-credentials grant only).

POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials, client_id, client_secret
and scope. Success returns an opaque random bearer token with `expires_in`; the state remembers
token -> (client_id, scope, expiry) so the SMTP stand-in can check XOAUTH2. Errors use Entra's
JSON shape and HTTP statuses (AADSTS 90002, 700016, 7000215, 7000222, ...).

Faults (target "entra"): down (listener closed: connection refused), 500, invalid_json
(HTTP 200 with a truncated body), bad_cert (kind=expired|wrong_name|untrusted).
"""

from __future__ import annotations

import json
import logging
import secrets
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.lab.standins import replies

log = logging.getLogger("standins.entra")
MAX_BODY = 64 * 1024


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    service = "entra"  # the config section, TLS context and fault target of this listener

    def __init__(self, address, handler, state, contexts):
        self.state = state
        self.contexts = contexts
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(10)
        bad = self.state.fault(self.service, "bad_cert")
        ctx = self.contexts.server(self.service, bad=bad["kind"] if bad else None)
        # The handshake happens in the worker thread (first read), not in the accept loop.
        return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        log.info("%s: client %s dropped the connection", self.service, client_address[0])


class _Handler(BaseHTTPRequestHandler):
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # request lines never reach the log
        return

    def setup(self):
        super().setup()
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise ConnectionAbortedError("TLS handshake failed") from None

    def do_GET(self):
        self._send_json(404, {"error": "not_found"})

    def do_POST(self):
        state = self.server.state
        state.count("entra", "requests")
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length).decode("utf-8", "replace")
        if state.fault("entra", "500") is not None:
            self._send(500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>")
            return
        if state.fault("entra", "invalid_json") is not None:
            self._send(200, "application/json; charset=utf-8",
                       b'{"token_type":"Bearer","expires_in":3599,"access_tok')
            return
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            self._send_json(404, {"error": "not_found"})
            return
        status, payload = token_response(state, parts[0], parse_qs(body))
        self._send_json(status, payload)

    def _send_json(self, status: int, payload: dict) -> None:
        self._send(status, "application/json; charset=utf-8", json.dumps(payload).encode())

    def _send(self, status: int, ctype: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def aadsts_error(code: int, **fields) -> tuple[int, dict]:
    status, error, template = replies.AADSTS[code]
    trace, correlation, stamp = str(uuid.uuid4()), str(uuid.uuid4()), replies.entra_timestamp()
    description = (f"AADSTS{code}: {template.format(**fields)} Trace ID: {trace} "
                   f"Correlation ID: {correlation} Timestamp: {stamp}")
    return status, {"error": error, "error_description": description, "error_codes": [code],
                    "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
                    "error_uri": f"https://login.microsoftonline.com/error?code={code}"}


def token_response(state, tenant: str, form: dict) -> tuple[int, dict]:
    def field(name):
        values = form.get(name)
        return values[0] if values else ""

    status, payload = _decide(state, tenant, field)
    if status != 200:
        state.count("entra_error", str(payload["error_codes"][0]))
    return status, payload


def _decide(state, tenant: str, field) -> tuple[int, dict]:
    grant_type = field("grant_type")
    if not grant_type:
        return aadsts_error(900144, parameter="grant_type")
    if grant_type != "client_credentials":
        return aadsts_error(70003, grant_type=grant_type)
    tenant_id = state.resolve_tenant(tenant)
    if tenant_id is None:
        return aadsts_error(90002, tenant=tenant)
    client_id = field("client_id").lower()
    if not client_id:
        return aadsts_error(900144, parameter="client_id")
    with state.lock:
        app = state.apps.get(client_id)
        app = dict(app, secrets=list(app["secrets"]), expired=list(app["expired_secrets"])) \
            if app else None
    if app is None or state.resolve_tenant(app["tenant"]) != tenant_id:
        return aadsts_error(700016, client_id=client_id, tenant=tenant_id)
    secret = field("client_secret")
    if not secret:
        return aadsts_error(7000218)
    if any(secrets.compare_digest(secret.encode(), s.encode()) for s in app["expired"]):
        return aadsts_error(7000222, client_id=client_id)
    if not any(secrets.compare_digest(secret.encode(), s.encode()) for s in app["secrets"]):
        return aadsts_error(7000215, client_id=client_id)
    scope = field("scope")
    if not scope:
        return aadsts_error(900144, parameter="scope")
    if not scope.endswith("/.default"):
        return aadsts_error(1002012, scope=scope)
    token, lifetime = state.issue_token(client_id, scope)
    return 200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                 "access_token": token}


class EntraServer:
    """Runs the token endpoint on a thread; `down()` / `up()` close and reopen the port."""

    service = "entra"
    server_class = _TLSServer
    handler = _Handler

    def __init__(self, config: dict, state, contexts):
        self.address = (config[self.service]["address"], config[self.service]["port"])
        self.state = state
        self.contexts = contexts
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def up(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            self._server = self.server_class(self.address, self.handler, self.state, self.contexts)
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.2},
                                            name=self.service, daemon=True)
            self._thread.start()

    def down(self) -> None:
        with self._lock:
            if self._server is None:
                return
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def sync(self) -> None:
        """Match the listener to the 'down' fault."""
        if self.state.fault(self.service, "down") is not None:
            self.down()
        else:
            self.up()
