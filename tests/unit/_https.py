# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: a scripted JSON server on 127.0.0.x for unit tests, HTTP or HTTPS.

It answers from a queue of (status, payload[, delay seconds]), then with `default`, and hands
each request to `record(handler, body)` so that every test suite keeps the request shape it
asserts on. With tls_dir, a fresh lab CA there issues the server's certificate (ca_path).
"""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.lab.pki import CA


class ScriptedJSONServer:
    def __init__(self, record, default, tls_dir=None, cert_name="stub-server"):
        self.host = "127.0.0.%d" % random.randint(20, 250)
        self.queue = []
        self.requests = []
        self.default = default
        self.ca_path = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # requests carry secrets: never log them
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(record(self, body))
                item = server.queue.pop(0) if server.queue else server.default
                status, payload = item[0], item[1]
                if len(item) > 2:
                    time.sleep(item[2])
                # bytes go out as they are (an empty 202, a body that is not JSON).
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    if data:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (the timeout tests)
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        scheme = "http"
        if tls_dir is not None:
            ca = CA(tls_dir / "pki")
            leaf = ca.issue(cert_name, [self.host])
            self.ca_path = str(ca.cert_path)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.port = self.httpd.server_address[1]
        self.url = "%s://%s:%d" % (scheme, self.host, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
