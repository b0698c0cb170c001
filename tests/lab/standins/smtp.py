# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SMTP stand-ins: `smtp.office365.com` (client submission) and the connector endpoint.

One aiosmtpd protocol class serves both roles:

* role "smtp": STARTTLS (or implicit TLS) first; after TLS, `AUTH LOGIN XOAUTH2`, no PLAIN;
  Microsoft's replies for bad credentials, disabled SMTP AUTH, retired basic auth, MAIL before
  AUTH, SendAs and the per-mailbox concurrency limit (checked at AUTH time: the AUTH that would
  make the 4th concurrent authenticated session gets 432 4.3.2; a session counts from its
  successful AUTH until its connection closes).
* role "connector": STARTTLS offered, no AUTH; relays for allowed source addresses or for a
  client certificate that chains to the lab CA, else 550 5.7.64 at RCPT TO.

Faults are read from the shared state when they matter (connect, STARTTLS, MAIL, RCPT), so a
fault switched on by the control socket applies to the next connection without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.parser
import email.utils
import itertools
import logging
import socket
import struct
import time
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.lab.standins import replies

log = logging.getLogger("standins.smtp")
SIZE_LIMIT = 157286400
_session_ids = itertools.count(1)


class StandinSMTP(SMTP):
    def __init__(self, handler, *, role: str, port: int, server_name: str, state, contexts,
                 implicit_tls: bool, allowed_sources=(), loop=None):
        self.role = role
        self.port = port
        self.state = state
        self.contexts = contexts
        self.implicit_tls = implicit_tls
        self.allowed_sources = set(allowed_sources)
        self.session_id = next(_session_ids)
        self.mailbox: str | None = None
        self.login_mechanism: str | None = None
        self.relay_via: str | None = None
        self.client_cert_cn: str | None = None
        super().__init__(handler, hostname=server_name, data_size_limit=SIZE_LIMIT,
                         auth_required=False, auth_require_tls=False,
                         auth_exclude_mechanism=["PLAIN"], authenticator=handler.authenticate,
                         timeout=60, loop=loop)

    # -- helpers ---------------------------------------------------------------------------
    @property
    def fault_target(self) -> str:
        return self.role

    def fault(self, name: str):
        return self.state.fault(self.fault_target, name)

    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    @property
    def peer_ip(self) -> str:
        peer = self.session.peer if self.session else None
        return peer[0] if peer else "unknown"

    def reply(self, template: str, **kw) -> str:
        return template.format(host=self.hostname, peer=self.peer_ip, **kw)

    def _hang_up(self, reset: bool = False) -> None:
        transport = self._original_transport or self.transport
        if transport is not None:
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Linger 0 turns the close into a TCP RST, as a middlebox reset looks.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                (self.transport or transport).close()
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

    async def push(self, status):
        if status == "220 Ready to start TLS":
            status = replies.STARTTLS_READY
        await super().push(status)

    # -- connection lifecycle --------------------------------------------------------------
    def connection_made(self, transport) -> None:
        if self.transport is None and self._original_transport is None:
            self.state.count("port", f"{self.role}:{self.port}")
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # aiosmtpd writes a multi-line reply (EHLO) line by line; without
                # NODELAY, Nagle holds the later lines for a round trip, which
                # Microsoft's servers (one segment per reply) do not do.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        if self.mailbox is not None:
            self.state.close_session(self.mailbox, self.session_id)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        tarpit = self.fault("tarpit")
        if tarpit is not None:
            # Never greet; the idle timer or the client ends it.
            await asyncio.sleep(min(float(tarpit.get("seconds", 55)), 55))
            self._hang_up()
            return
        if self.fault("banner_421") is not None:
            await self.push(replies.SERVICE_UNAVAILABLE)
            self._hang_up()
            return
        throttle = self.fault("throttle")
        if throttle is not None and throttle["stage"] == "banner":
            await self.push(self.reply(replies.THROTTLED))
            self._hang_up()
            return
        self.__ident__ = replies.BANNER_IDENT.format(date=replies.banner_date())
        await super()._handle_client()

    # -- commands --------------------------------------------------------------------------
    async def smtp_EHLO(self, hostname: str):
        if not hostname:
            await self.push("501 5.5.4 Invalid domain name")
            return
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        lines = [f"{self.hostname} Hello [{self.peer_ip}]", f"SIZE {SIZE_LIMIT}", "PIPELINING",
                 "ENHANCEDSTATUSCODES"]
        if not self.tls_active:
            if self.fault("starttls_masked") is not None:
                lines.append("XXXXXXXA")
            elif self.fault("starttls_stripped") is None:
                lines.append("STARTTLS")
        elif self.role == "smtp":
            lines.append("AUTH " + " ".join(sorted(self._auth_methods)))
        lines.append("8BITMIME")
        for i, line in enumerate(lines):
            await self.push(("250 " if i == len(lines) - 1 else "250-") + line)

    async def smtp_STARTTLS(self, arg: str):
        if arg:
            await self.push("501 5.5.4 Syntax: STARTTLS")
            return
        if self.fault("starttls_masked") is not None:
            # The middlebox rewrote the verb, so the server only ever sees Xs.
            await self.push(replies.UNRECOGNIZED.format(command="XXXXXXXX"))
            return
        if self.fault("starttls_stripped") is not None:
            await self.push(replies.UNRECOGNIZED.format(command="STARTTLS"))
            return
        if self.tls_active:
            await self.push("503 5.5.2 TLS is already active")
            return
        if self.fault("reset_after_starttls") is not None:
            await self.push(replies.STARTTLS_READY)
            self._hang_up(reset=True)
            return
        bad = self.fault("bad_cert")
        legacy = self.fault("legacy_tls") is not None
        self.tls_context = self.contexts.server(self.role, bad=bad["kind"] if bad else None,
                                                legacy=legacy)
        await super().smtp_STARTTLS(arg)
        ssl_object = self.transport.get_extra_info("ssl_object")
        if legacy and ssl_object is not None and ssl_object.version() in ("TLSv1", "TLSv1.1"):
            # Microsoft completes the handshake, then refuses the first command on it.
            try:
                await asyncio.wait_for(self._reader.readline(), 30)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            await self.push(self.reply(replies.TLS_LEGACY))
            self._hang_up()
            return
        if self.role == "connector" and ssl_object is not None:
            cert = ssl_object.getpeercert()
            if cert:
                self.client_cert_cn = _common_name(cert)

    async def smtp_AUTH(self, arg: str) -> None:
        if self.role != "smtp" or not self.tls_active:
            await self.push(self.reply(replies.AUTH_MECH_UNAVAILABLE))
            return
        await super().smtp_AUTH(arg)

    async def check_auth_needed(self, caller_method: str) -> bool:
        if (self.role == "smtp" and not self.session.authenticated
                and caller_method in ("MAIL", "RCPT", "DATA", "VRFY")):
            await self.push(self.reply(replies.NOT_AUTHENTICATED))
            return True
        return False

    async def smtp_MAIL(self, arg):
        throttle = self.fault("throttle")
        if throttle is not None and throttle["stage"] == "mail" and self.session.host_name:
            await self.push(self.reply(replies.THROTTLED))
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        throttle = self.fault("throttle")
        if (throttle is not None and throttle["stage"] == "rcpt" and self.envelope
                and self.envelope.mail_from):
            await self.push(self.reply(replies.THROTTLED))
            return
        if self.role == "connector" and self.envelope and self.envelope.mail_from:
            if self.peer_ip in self.allowed_sources:
                self.relay_via = "ip"
            elif self.client_cert_cn is not None:
                self.relay_via = "certificate"
            else:
                await self.push(self.reply(replies.RELAY_DENIED))
                return
        await super().smtp_RCPT(arg)

    # -- authentication results ------------------------------------------------------------
    def finish_auth(self, mailbox: str, mechanism: str, refusal: str | None) -> AuthResult:
        if refusal is not None:
            return AuthResult(success=False, handled=False, message=refusal)
        if not self.state.open_session(mailbox, self.session_id):
            return AuthResult(success=False, handled=False,
                              message=self.reply(replies.SENDER_THREAD_LIMIT))
        self.mailbox = mailbox.lower()
        self.login_mechanism = mechanism
        return AuthResult(success=True, auth_data=self.mailbox,
                          message=replies.AUTH_OK)


def _common_name(cert: dict) -> str:
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return ""


class Handler:
    """aiosmtpd hooks: LOGIN checking, the XOAUTH2 mechanism, and storing accepted mail."""

    def __init__(self, state):
        self.state = state

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False, message=server.reply(replies.AUTH_BAD))
        mailbox = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        refusal = self.state.auth_basic(mailbox, password, server.hostname)
        return server.finish_auth(mailbox, "LOGIN", refusal)

    async def auth_XOAUTH2(self, server, args):
        if len(args) == 2:
            blob = args[1]
        else:
            answer = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(answer).decode()
        try:
            decoded = base64.b64decode(blob, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            await server.push("501 5.5.2 Cannot Base64-decode Client responses")
            return AuthResult(success=False, handled=True)
        fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        mailbox = fields.get("user", "")
        auth = fields.get("auth", "")
        if not mailbox or not auth.startswith("Bearer "):
            return AuthResult(success=False, handled=False, message=server.reply(replies.AUTH_BAD))
        refusal = self.state.auth_token(mailbox, auth[len("Bearer "):], server.hostname)
        return server.finish_auth(mailbox, "XOAUTH2", refusal)

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content if isinstance(envelope.content, bytes) else \
            envelope.content.encode("utf-8", "surrogateescape")
        parsed = email.parser.BytesHeaderParser().parsebytes(content)
        header_from = email.utils.parseaddr(parsed.get("From", ""))[1]
        if server.role == "smtp":
            for sender in (envelope.mail_from, header_from):
                if sender and not self.state.send_as_allowed(server.mailbox, sender):
                    return server.reply(replies.SEND_AS_DENIED, mailbox=server.mailbox,
                                        sender=sender)
            if not self.state.take_message_slot(server.mailbox):
                return server.reply(replies.SUBMISSION_QUOTA)
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        if server.role == "smtp":
            identity, mechanism = server.mailbox, server.login_mechanism
        elif server.relay_via == "certificate":
            identity, mechanism = server.client_cert_cn, "certificate"
        else:
            identity, mechanism = None, server.relay_via
        msgid = f"{uuid.uuid4()}@{server.hostname}"
        self.state.record_message({
            "listener": f"{server.role}:{server.port}",
            "envelope_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "headers": [[k, str(v)] for k, v in parsed.items()],
            "data": content.decode("utf-8", "replace"),
            "auth_identity": identity,
            "auth_mechanism": mechanism,
            "peer": list(session.peer) if session.peer else None,
            "tls_version": ssl_object.version() if ssl_object else None,
            "received_at": time.time(),
            "queue_id": msgid,
        })
        return server.reply(replies.QUEUED, msgid=msgid)

    async def handle_exception(self, error):
        # TLS handshake failures are expected in fault tests; keep them out of the error log.
        log.info("SMTP session error: %s", error.__class__.__name__)
        return replies.INTERNAL_ERROR.format(host="standin")
