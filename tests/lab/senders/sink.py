# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A plain SMTP sink on a lab host's loopback: what a relay on loopback looks like to its apps.

It offers no STARTTLS (a relay on loopback offers none, since some mail libraries upgrade
whenever it is offered), accepts every message, and appends one JSON line per message to OUT:
envelope, Subject, whether the client logged in, and every STARTTLS or AUTH it sent.
It does offer AUTH (LOGIN, PLAIN; any credential is accepted), although a relay on loopback need
not: so that a sender whose settings hold no user shows that it does not log in even when it could.

    nsenter ... python sink.py --port 2525 --out FILE     (prints "listening" once ready)

Runs until SIGTERM. aiosmtpd comes from the controller's venv.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult


class RecordingSMTP(SMTP):
    """aiosmtpd's server, noting the STARTTLS and AUTH commands a client sends unasked."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unasked = []

    async def smtp_STARTTLS(self, arg):
        self.unasked.append("STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg):
        self.unasked.append("AUTH")
        await super().smtp_AUTH(arg)


class Recorder:
    def __init__(self, out: str):
        self.out = out
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        headers = email.parser.BytesHeaderParser().parsebytes(envelope.original_content or b"")
        record = {"envelope_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                  "subject": headers.get("Subject", ""), "from": headers.get("From", ""),
                  "ehlo": session.host_name, "tls": session.ssl is not None,
                  "authenticated": bool(session.authenticated), "unasked": list(server.unasked)}
        with self.lock, open(self.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return "250 2.0.0 Queued"


def accept_any(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


class SinkController(Controller):
    def factory(self):
        return RecordingSMTP(self.handler, **self.SMTP_kwargs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    controller = SinkController(Recorder(args.out), hostname=args.host, port=args.port,
                                server_hostname="relay.sink.lab.test",
                                authenticator=accept_any, auth_require_tls=False)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("listening", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
