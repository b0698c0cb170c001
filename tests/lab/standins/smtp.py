# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SMTP stand-ins: `smtp.office365.com` (client submission) and the connector endpoint.

One aiosmtpd protocol class serves both roles:

* role "smtp": STARTTLS (or implicit TLS) first; after TLS, `AUTH LOGIN XOAUTH2`, no PLAIN;
  Microsoft's replies for bad credentials, disabled SMTP AUTH, retired basic auth, MAIL before
  AUTH, SendAs, and the limits per mailbox: at most 3 connections *sending* at once (a session
  sends from its accepted MAIL FROM until the reply to its message body; a 4th gets 432 4.3.2 at
  the end of DATA; the fault concurrency_at_auth refuses the 4th AUTH instead), 30 messages a
  minute delivered with the excess accepted and carried over to later minutes, and 10,000
  recipients a day beyond which 554 5.2.0 refuses.
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
import re
import socket
import struct
import time
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.lab.standins import replies

log = logging.getLogger("standins.smtp")
SIZE_LIMIT = 157286400
# Exchange Online takes AUTH lines of several KB (an XOAUTH2 blob carries a 1.5-3 KB JWT).
AUTH_LINE_LIMIT = 16384
READ_LIMIT = AUTH_LINE_LIMIT + 2
# EHLO and MAIL/RCPT parameters of the extensions Exchange Online offers (DSN, SMTPUTF8,
# BINARYMIME); aiosmtpd knows none of them, so they are taken off before it parses the line.
_EXT_PARAM = re.compile(r"\s+(SMTPUTF8|BODY=BINARYMIME|(?:RET|ENVID|NOTIFY|ORCPT)=\S+)(?=\s|$)", re.I)
_DOMAIN = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.)*"
                     r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.?)$")
_session_ids = itertools.count(1)


class StandinSMTP(SMTP):
    # AUTH LOGIN prompts as Exchange sends them ([MS-XLOGIN]: 334 VXNlcm5hbWU6, 334 UGFzc3dvcmQ6),
    # not aiosmtpd's "User Name\0"/"Password\0": some clients (gopkg.in/mail.v2, Grafana's
    # mailer) answer only to these words.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, handler, *, role: str, port: int, server_name: str, state, contexts,
                 implicit_tls: bool, allowed_sources=(), idle_timeout: float = 300, loop=None):
        self.role = role
        self.port = port
        self.state = state
        self.contexts = contexts
        self.implicit_tls = implicit_tls
        self.allowed_sources = set(allowed_sources)
        self.session_id = next(_session_ids)
        self.mailbox: str | None = None
        self.login_mechanism: str | None = None
        self.login_app: str | None = None  # XOAUTH2: the app registration the token was issued to
        self.relay_via: str | None = None
        self.client_cert_cn: str | None = None
        self.ext_params: dict = {}
        self._bdat: bytearray | None = None
        self.idle_timeout = float(idle_timeout)
        super().__init__(handler, hostname=server_name, data_size_limit=SIZE_LIMIT,
                         auth_required=False, auth_require_tls=False, enable_SMTPUTF8=True,
                         auth_exclude_mechanism=["PLAIN"], authenticator=handler.authenticate,
                         timeout=self.idle_timeout, loop=loop)
        # Long AUTH lines: the reader's own limit, and aiosmtpd's per-command one. DATA lines
        # stay limited by line_length_limit, which aiosmtpd checks itself.
        self._stream_reader._limit = READ_LIMIT
        self.command_size_limits["AUTH"] = AUTH_LINE_LIMIT
        self.command_size_limits["MAIL"] = 1024
        self.command_size_limits["RCPT"] = 1024

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
        return template.format(host=self.hostname, where=replies.where(self.hostname), peer=self.peer_ip, **kw)

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
        # aiosmtpd's own texts, where Exchange Online words it differently.
        status = replies.AIOSMTPD_TEXTS.get(status, status)
        await super().push(status)

    def _timeout_cb(self):
        # Exchange Online says why it ends an idle session; aiosmtpd would just close.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write((replies.IDLE_TIMEOUT.format(
                duration=replies.session_duration(self.idle_timeout)) + "\r\n").encode())
        super()._timeout_cb()

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

    def _set_rset_state(self):
        # EHLO and RSET end a transaction, and with it the session's sending.
        self.stop_sending()
        self._bdat = None
        super()._set_rset_state()

    def _set_post_data_state(self):
        self.stop_sending()
        super()._set_post_data_state()

    def stop_sending(self) -> bool:
        """The session's message got its reply: True when it was over the sending limit."""
        if self.role != "smtp" or self.mailbox is None:
            return False
        return self.state.stop_sending(self.mailbox, self.session_id)

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
        self.__ident__ = replies.BANNER_IDENT.format(date=replies.banner_date(),
                                                     id=replies.session_hex_id())
        await super()._handle_client()

    # -- commands --------------------------------------------------------------------------
    async def smtp_EHLO(self, hostname: str):
        if not hostname or not _DOMAIN.match(hostname):
            await self.push(replies.INVALID_DOMAIN)
            return
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        lines = [f"{self.hostname} Hello [{self.peer_ip}]", f"SIZE {SIZE_LIMIT}", "PIPELINING",
                 "DSN", "ENHANCEDSTATUSCODES"]
        if not self.tls_active:
            if self.fault("starttls_masked") is not None:
                lines.append("XXXXXXXA")
            elif self.fault("starttls_stripped") is None:
                lines.append("STARTTLS")
        elif self.role == "smtp":
            lines.append("AUTH " + " ".join(sorted(self._auth_methods)))
        lines += ["8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"]
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

    def _take_ext_params(self, arg):
        """Take the DSN/SMTPUTF8/BINARYMIME parameters off a MAIL or RCPT line (kept for the
        message record); aiosmtpd parses the rest."""
        if not arg:
            return arg, []
        found = [m.group(1) for m in _EXT_PARAM.finditer(arg)]
        return _EXT_PARAM.sub("", arg), found

    async def smtp_MAIL(self, arg):
        throttle = self.fault("throttle")
        if throttle is not None and throttle["stage"] == "mail" and self.session.host_name:
            await self.push(self.reply(replies.THROTTLED))
            return
        rejected = self.fault("ip_rejected")
        if rejected is not None and self.peer_ip in rejected["peers"] and self.session.host_name:
            await self.push(self.reply(replies.IP_REJECTED))
            return
        arg, found = self._take_ext_params(arg)
        had_sender = bool(self.envelope and self.envelope.mail_from)
        await super().smtp_MAIL(arg)
        if not had_sender and self.envelope and self.envelope.mail_from:
            self.ext_params = {"mail": found, "rcpt": {}}
            self.envelope.smtp_utf8 = any(p.upper() == "SMTPUTF8" for p in found)
            if self.role == "smtp" and self.mailbox is not None:
                self.state.start_sending(self.mailbox, self.session_id)

    async def smtp_BDAT(self, arg):
        """CHUNKING (RFC 3030): BDAT <size> [LAST]; the chunks are the message."""
        parts = (arg or "").split()
        if not parts or not parts[0].isdigit() or len(parts) > 2 or \
                (len(parts) == 2 and parts[1].upper() != "LAST"):
            await self.push("501 5.5.4 Syntax: BDAT <size> [LAST]")
            return
        size = int(parts[0])
        chunk = await self._reader.readexactly(size) if size else b""
        if await self.check_auth_needed("DATA"):
            return
        if not (self.envelope and self.envelope.rcpt_tos):
            await self.push("503 5.5.1 Bad sequence of commands")
            return
        self._bdat = (self._bdat or bytearray()) + chunk
        if len(self._bdat) > SIZE_LIMIT:
            self._bdat = None
            self.stop_sending()
            await self.push("552 5.3.4 Message size exceeds fixed maximum message size")
            self._set_post_data_state()
            return
        if len(parts) == 1:
            await self.push(f"250 2.0.0 {size} bytes received")
            return
        self.envelope.content = self.envelope.original_content = bytes(self._bdat)
        self._bdat = None
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

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
        arg, found = self._take_ext_params(arg)
        await super().smtp_RCPT(arg)
        if found and self.envelope and self.envelope.rcpt_tos:
            self.ext_params.setdefault("rcpt", {})[self.envelope.rcpt_tos[-1]] = found

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
        refusal, app = self.state.auth_token(mailbox, auth[len("Bearer "):], server.hostname)
        result = server.finish_auth(mailbox, "XOAUTH2", refusal)
        if result.success:
            server.login_app = app
        return result

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.SENDER_OK

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.RECIPIENT_OK

    async def handle_RSET(self, server, session, envelope):
        return replies.RESET_OK

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content if isinstance(envelope.content, bytes) else \
            envelope.content.encode("utf-8", "surrogateescape")
        parsed = email.parser.BytesHeaderParser().parsebytes(content)
        header_from = email.utils.parseaddr(parsed.get("From", ""))[1]
        schedule = None
        if server.role == "smtp":
            # The store driver refuses a 4th message in flight only once its body is in.
            if server.stop_sending():
                return server.reply(replies.CONCURRENT_LIMIT)
            for sender in (envelope.mail_from, header_from):
                if sender and not self.state.send_as_allowed(server.mailbox, sender):
                    return server.reply(replies.SEND_AS_DENIED, mailbox=server.mailbox,
                                        sender=sender)
            if not self.state.take_recipients(server.mailbox, len(envelope.rcpt_tos)):
                return server.reply(replies.SUBMISSION_QUOTA)
            schedule = self.state.schedule_delivery(server.mailbox)
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
            "auth_app": server.login_app if mechanism == "XOAUTH2" else None,
            "peer": list(session.peer) if session.peer else None,
            "tls_version": ssl_object.version() if ssl_object else None,
            "received_at": time.time(),
            "queue_id": msgid,
            # Over-rate messages are accepted and delivered in a later minute (scaled clock).
            "delayed": bool(schedule and schedule["delayed"]),
            "delivery": schedule,
            "smtputf8": bool(getattr(envelope, "smtp_utf8", False)),
            "ext_params": server.ext_params,
        })
        return server.reply(replies.QUEUED, msgid=msgid)

    async def handle_exception(self, error):
        # TLS handshake failures are expected in fault tests; keep them out of the error log.
        log.info("SMTP session error: %s", error.__class__.__name__)
        return replies.INTERNAL_ERROR.format(where=replies.where("standin"))
