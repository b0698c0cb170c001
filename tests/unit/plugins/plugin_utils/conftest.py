"""A scripted Vault stand-in on 127.0.0.x for the connection tests."""

from __future__ import annotations

import json
import random
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.lab.pki import CA  # noqa: E402


class ScriptedServer:
    """Answers from a queue of (status, json body[, delay]); then 200 with `default`. Records requests."""

    def __init__(self, tmp_path=None, tls=False, proxy=False):
        self.host = "127.0.0.%d" % random.randint(20, 250)
        self.queue = []
        self.requests = []
        self.default = (200, {"data": {"data": {"username": "u@x.test", "password": "pw-from-stub"},
                                       "metadata": {"version": 4, "created_time": "2026-01-01T00:00:00Z"}}})
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append({"line": self.requestline, "path": self.path, "body": body,
                                        "token": self.headers.get("X-Vault-Token"),
                                        "namespace": self.headers.get("X-Vault-Namespace")})
                item = server.queue.pop(0) if server.queue else server.default
                status, payload = item[0], item[1]
                if len(item) > 2:
                    time.sleep(item[2])
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        scheme = "http"
        if tls:
            ca = CA(tmp_path / "pki")
            leaf = ca.issue("stub-vault", [self.host])
            self.ca_path = str(ca.cert_path)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = "%s://%s:%d" % (scheme, self.host, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def make_server():
    """Start extra scripted servers (e.g. a proxy); each is closed after the test."""
    started = []

    def start(**kw):
        srv = ScriptedServer(**kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def stub_vault():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def stub_vault_tls(tmp_path):
    srv = ScriptedServer(tmp_path, tls=True)
    yield srv
    srv.close()
