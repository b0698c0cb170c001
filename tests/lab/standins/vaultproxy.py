# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small threaded HTTP fault proxy in front of OpenBao's HTTP listener.

Rules (added through the control socket) are tried in order; the first one that matches the
request path and still has uses left applies and loses one use:
  {"status": 412|429|5xx, "times": N}  answer that status with a Vault-shaped body, N times;
  {"delay": seconds, "times": N}       wait, then pass the request through;
`times` None means forever. Everything else is passed through unchanged.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.lab.standins import replies

log = logging.getLogger("standins.vaultproxy")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
MAX_BODY = 16 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, upstream: str, timeout: float):
        self.state = state
        split = urlsplit(upstream)
        if split.scheme != "http" or not split.hostname:
            raise ValueError(f"vault_proxy.upstream '{upstream}' must be an http:// URL")
        self.upstream = (split.hostname, split.port or 80)
        self.upstream_timeout = timeout
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        log.info("vault proxy: client %s dropped the connection", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin-vault-proxy"
    sys_version = ""

    def log_message(self, fmt, *args):  # headers carry tokens; never log requests
        return

    def _relay(self):
        self.connection.settimeout(30)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"errors": ["request too large for the fault proxy"]})
            return
        body = self.rfile.read(length) if length else None
        state = self.server.state
        path = self.path.split("?", 1)[0]
        rule = state.take_vault_fault(path)
        if rule and rule["status"]:
            message = replies.VAULT_ERRORS.get(rule["status"], "internal error").format(path=path)
            self._reply(rule["status"], {"errors": [message]})
            return
        if rule and rule["delay"]:
            time.sleep(float(rule["delay"]))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(*self.server.upstream,
                                          timeout=self.server.upstream_timeout)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read(MAX_BODY)
            resp_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            state.count("vault", "upstream_errors")
            self._reply(502, {"errors": [f"fault proxy: upstream unreachable "
                                         f"({exc.__class__.__name__})"]})
            return
        finally:
            conn.close()
        state.count("vault", "passed")
        try:
            self.send_response(status)
            for key, value in resp_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _relay

    def do_LIST(self):
        self._relay()

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class VaultProxy:
    def __init__(self, config: dict, state):
        vp = config["vault_proxy"]
        self._server = _Server((vp["address"], int(vp["port"])), state, vp["upstream"],
                               float(vp["upstream_timeout"]))
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="vault-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
