# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe engine: walks each port through its stages, all ports at once.

Stages, in order: dns, connect, banner, ehlo, starttls, tls, ehlo_tls, auth,
send (implicit TLS: dns, connect, tls, banner, ehlo_tls, auth, send). Each
stage has a timeout; a port is retried only on transient replies (421, 432,
451) or resets, never on a silent drop.

Credentials go out only on a TLS connection, and by default on one port only:
Microsoft 365 allows 3 concurrent connections per mailbox, so the other ports
wait for that port's outcome instead of logging in too.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import random
import socket
import ssl
import threading
import time
from urllib.parse import urlparse

from ansible_collections.mailops.smtp.plugins.module_utils._relay_hop import hop_result
from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import (
    diagnosis,
    is_transient_error,
    is_transient_reply,
    match_cert_error,
    match_error,
    match_reply,
)
from ansible_collections.mailops.smtp.plugins.module_utils.smtp_client import (
    Connection,
    ProbeInputError,
    b64,
    build_context,
    cert_info,
    decode_challenge,
    has_extension,
    local_fqdn,
    parse_ehlo,
    plain_blob,
    resolve,
    xoauth2_blob,
)


CERT_WARNING_DAYS = 30
MASK = "********"
_STOP_RANK = {"connect": 1, "tls": 2, "ehlo": 3, "auth": 4, "send": 5}


class StageFailure(Exception):
    """A stage failed; code is a catalogue code, detail the raw reply or error."""

    def __init__(self, code, detail, transient=False):
        super(StageFailure, self).__init__(detail)
        self.code = code
        self.detail = detail
        self.transient = transient


class Scrubber(object):
    """Masks secrets, and the base64 forms that went over the wire, in any text."""

    def __init__(self, secrets):
        self._secrets = sorted(set(s for s in secrets if s and len(s) >= 3), key=len, reverse=True)

    def text(self, value):
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def walk(self, obj):
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return dict((k, self.walk(v)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return [self.walk(v) for v in obj]
        return obj


def secrets_of(auth):
    """Every string that would reveal the credential, including what goes over the wire."""
    if not auth:
        return []
    user = auth["username"]
    out = []
    if auth.get("password"):
        pw = auth["password"]
        out += [pw, b64(pw), plain_blob(user, pw)]
    if auth.get("access_token"):
        tok = auth["access_token"]
        out += [tok, b64(tok), xoauth2_blob(user, tok)]
    return out


class _AuthGate(object):
    """Lets one port authenticate; the others wait for its outcome (3 connections per mailbox).

    The login runs on the first port, in the plan's order, that gets through TLS and EHLO:
    the first port is the one the applications use. A later port waits until every earlier
    one has either logged in or dropped out (failed before the login).
    """

    def __init__(self, order):
        self._cond = threading.Condition()
        self._order = list(order)
        self._out = set()
        self._owner = None
        self._outcome = None

    def _my_turn(self, port):
        earlier = self._order[:self._order.index(port)] if port in self._order else self._order
        return self._owner in (None, port) and all(p in self._out for p in earlier)

    def enter(self, port, deadline):
        with self._cond:
            # Bounded by the deadline: each wait shortens the remaining time.
            while True:
                if self._outcome is not None:
                    return "done", self._outcome
                if self._my_turn(port):
                    self._owner = port
                    return "mine", None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout", None
                self._cond.wait(remaining)

    def finish(self, port, ok, code):
        with self._cond:
            if self._owner == port and self._outcome is None:
                self._outcome = {"port": port, "ok": ok, "code": code}
                self._cond.notify_all()

    def release(self, port):
        """The port is done: if it did not log in, the next port in order may."""
        with self._cond:
            self._out.add(port)
            if self._owner == port and self._outcome is None:
                self._owner = None
            self._cond.notify_all()

    @property
    def outcome(self):
        with self._cond:
            return self._outcome


def _ms(start):
    return round((time.monotonic() - start) * 1000.0, 1)


def _error_text(exc):
    text = str(exc) or type(exc).__name__
    if isinstance(exc, socket.timeout) and "timed out" not in text:
        text = "timed out: %s" % text
    return text


def _reply_failure(reply, default=None):
    code = match_reply(reply.code, reply.text) or "unknown"
    if default and code in ("unknown", "temporary_failure"):
        code = default
    return StageFailure(code, str(reply), is_transient_reply(reply.code, reply.text))


def _message_bytes(send, helo):
    # Imported here: the email package costs every probe run ~10 ms of start-up,
    # and only a run that sends a test message needs it.
    import email.policy
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["From"] = send["from"]
    msg["To"] = ", ".join(send["to"])
    msg["Subject"] = send["subject"]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=helo)
    msg["X-Mailer"] = "mailops.smtp.probe"
    msg.set_content("Test message from mailops.smtp.probe on %s.\n" % helo)
    data = msg.as_bytes(policy=email.policy.SMTP)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    # Dot-stuffing (RFC 5321 4.5.2).
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class PortProbe(object):
    """Probes one port, with retries; .result holds the port's return value."""

    def __init__(self, plan, spec, addresses, dns_stage, contexts, gate, check_mode, helo,
                 deadline, sleep=time.sleep, backoff_base=1.0):
        self.plan = plan
        self.spec = spec
        self.port = spec["port"]
        self.addresses = addresses
        self.dns_stage = dns_stage
        self.ctx, self.unverified_ctx = contexts
        self.gate = gate
        self.check_mode = check_mode
        self.helo = helo
        self.deadline = deadline
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.result = None
        self._st = None

    # -- one attempt -------------------------------------------------------

    def _new_state(self):
        return {
            "stages": [dict(self.dns_stage)],
            "tls": None,
            "extensions": [],
            "auth_mechanisms": [],
            "auth": None,
            "address": self.addresses[0][1][0] if self.addresses else None,
            "sockaddr": None,
            "conn": None,
            "reached_auth": False,
            "delegated": None,
        }

    def _record(self, name, ok, start, detail):
        self._st["stages"].append({"name": name, "ok": ok, "ms": _ms(start), "detail": detail})

    def _stage(self, name, fn):
        start = time.monotonic()
        try:
            detail = fn()
        except StageFailure as failure:
            self._record(name, False, start, failure.detail)
            raise
        except (OSError, ValueError) as exc:
            text = _error_text(exc)
            self._record(name, False, start, text)
            raise StageFailure(match_error(name, text, getattr(exc, "errno", None)), text,
                               is_transient_error(text))
        self._record(name, True, start, detail)

    def _connect(self):
        conn, address = Connection.open(self.addresses, self.port, self.plan["host"],
                                        self.spec["connect_timeout"], self.plan["timeout"])
        self._st["conn"] = conn
        self._st["address"] = address
        self._st["sockaddr"] = [a for a in self.addresses if a[1][0] == address][:1]
        return "connected to %s port %d" % (address, self.port)

    def _tls(self):
        conn = self._st["conn"]
        try:
            conn.start_tls(self.ctx, self.plan["host"])
        except ssl.SSLCertVerificationError as exc:
            code = match_cert_error(getattr(exc, "verify_code", None), getattr(exc, "verify_message", "") or str(exc))
            self._fetch_unverified_cert(code)
            raise StageFailure(code, "certificate verify failed: %s" % (getattr(exc, "verify_message", "") or exc))
        version, cipher, der = conn.tls_summary()
        trusted = True if self.plan["validate_certs"] else None
        self._st["tls"] = {"version": version, "cipher": cipher,
                           "cert": cert_info(der, self.plan["host"], trusted)}
        return "%s %s" % (version, cipher)

    def _fetch_unverified_cert(self, code):
        """A second, unverified handshake, only to report the certificate that failed."""
        conn = None
        try:
            conn, _addr = Connection.open(self._st["sockaddr"] or self.addresses, self.port, self.plan["host"],
                                          self.spec["connect_timeout"], self.plan["timeout"])
            if self.spec["security"] == "starttls":
                if conn.read_reply().code != 220:
                    return
                if conn.command("EHLO " + self.helo).code != 250:
                    return
                if conn.command("STARTTLS").code != 220:
                    return
            conn.start_tls(self.unverified_ctx, self.plan["host"])
            version, cipher, der = conn.tls_summary()
            trusted = {"cert_untrusted": False, "cert_hostname_mismatch": True}.get(code)
            self._st["tls"] = {"version": version, "cipher": cipher,
                               "cert": cert_info(der, self.plan["host"], trusted)}
        except (OSError, ValueError):
            return
        finally:
            if conn is not None:
                conn.quit()

    def _banner(self):
        reply = self._st["conn"].read_reply()
        if reply.code != 220:
            raise _reply_failure(reply)
        return str(reply)

    def _ehlo(self):
        reply = self._st["conn"].command("EHLO " + self.helo)
        if reply.code != 250:
            raise _reply_failure(reply)
        self._st["extensions"], self._st["auth_mechanisms"] = parse_ehlo(reply)
        return "%s | %s" % (reply.lines[0], ", ".join(self._st["extensions"]))

    def _starttls(self):
        extensions = self._st["extensions"]
        if not has_extension(extensions, "STARTTLS"):
            if any("XXXXXXXA" in e.upper() for e in extensions):
                raise StageFailure("starttls_missing", "STARTTLS is masked as XXXXXXXA: a middlebox (e.g. Cisco "
                                   "ASA ESMTP inspection) rewrites the EHLO reply; EHLO: %s" % ", ".join(extensions))
            raise StageFailure("starttls_missing", "EHLO offers no STARTTLS; EHLO: %s" % ", ".join(extensions))
        reply = self._st["conn"].command("STARTTLS")
        if reply.code != 220:
            raise _reply_failure(reply, default="tls_failed")
        return str(reply)

    def _choose_mechanism(self):
        auth = self.plan["auth"]
        offered = self._st["auth_mechanisms"]
        if not offered:
            raise StageFailure("auth_not_offered", "EHLO after TLS offers no AUTH; EHLO: %s"
                               % ", ".join(self._st["extensions"]))
        wanted = auth["mechanism"]
        if wanted == "auto":
            if auth.get("access_token"):
                wanted = "xoauth2"
            elif "LOGIN" in offered:
                wanted = "login"
            else:
                wanted = "plain"
        if wanted.upper() not in offered:
            hint = ""
            if not auth.get("access_token") and "XOAUTH2" in offered:
                hint = "; use access_token (XOAUTH2)"
            raise StageFailure("auth_mechanism_unsupported", "the server offers AUTH %s, not %s%s"
                               % (" ".join(offered), wanted.upper(), hint))
        return wanted.upper()

    def _auth(self):
        conn = self._st["conn"]
        if not conn.tls:
            # Never reached through the plan; kept as the last line of defence.
            raise StageFailure("starttls_missing", "refusing to send credentials without TLS")
        auth = self.plan["auth"]
        mech = self._choose_mechanism()
        self._st["reached_auth"] = True
        extra = ""
        if mech == "XOAUTH2":
            reply = conn.command("AUTH XOAUTH2 " + xoauth2_blob(auth["username"], auth["access_token"]))
            if reply.code == 334:
                # The failure details come as a base64 JSON challenge; an empty line ends the exchange.
                extra = " [%s]" % decode_challenge(reply.text)
                reply = conn.command("")
        elif mech == "LOGIN":
            reply = conn.command("AUTH LOGIN " + b64(auth["username"]))
            sent_password = False
            for _round in range(3):
                if reply.code != 334:
                    break
                if sent_password:
                    reply = conn.command("*")  # cancel: the server wants more than LOGIN gives
                    break
                if decode_challenge(reply.text).lower().startswith("username"):
                    reply = conn.command(b64(auth["username"]))
                else:
                    reply = conn.command(b64(auth["password"]))
                    sent_password = True
        else:
            blob = plain_blob(auth["username"], auth["password"])
            reply = conn.command("AUTH PLAIN " + blob)
            if reply.code == 334:
                reply = conn.command(blob)
        self._st["auth"] = {"mechanism": mech, "ok": reply.code == 235, "reply": str(reply) + extra}
        if reply.code != 235:
            failure = _reply_failure(reply)
            failure.detail += extra
            raise failure
        return str(reply)

    def _send(self):
        if self.check_mode:
            return "skipped: check mode"
        send = self.plan["send"]
        conn = self._st["conn"]
        commands = ["MAIL FROM:<%s>" % send["from"]] + ["RCPT TO:<%s>" % r for r in send["to"]] + ["DATA"]
        replies = []
        if has_extension(self._st["extensions"], "PIPELINING"):
            conn.send_raw("".join(c + "\r\n" for c in commands).encode("utf-8"))
            for _cmd in commands:
                replies.append(conn.read_reply())
        else:
            for cmd in commands:
                reply = conn.command(cmd)
                replies.append(reply)
                if reply.code >= 400:
                    break
        for cmd, reply in zip(commands, replies):
            expected = (354,) if cmd == "DATA" else (250, 251)
            if reply.code not in expected:
                raise _reply_failure(reply)
        conn.send_raw(_message_bytes(send, self.helo))
        final = conn.read_reply()
        if final.code != 250:
            raise _reply_failure(final)
        return "%s; %d recipient(s)" % (final, len(send["to"]))

    def _delegated(self, status, outcome):
        """Another port logs in for this one: no login stage here, so no tick or code where none was tried."""
        if status == "done":
            self._st["delegated"] = outcome
            return
        start = time.monotonic()
        self._record("auth", False, start, "gave up waiting for the port that authenticates")
        raise StageFailure("temporary_failure", "gave up waiting for the port that authenticates")

    def _attempt(self):
        self._st = self._new_state()
        plan = self.plan
        stop = _STOP_RANK[plan["stop_after"]]
        security = self.spec["security"]
        try:
            self._stage("connect", self._connect)
            if stop > _STOP_RANK["connect"]:
                if security == "tls":
                    self._stage("tls", self._tls)
                if not (security == "tls" and stop == _STOP_RANK["tls"]):
                    self._stage("banner", self._banner)
                    self._stage("ehlo_tls" if security == "tls" else "ehlo", self._ehlo)
                if security == "starttls":
                    self._stage("starttls", self._starttls)
                    self._stage("tls", self._tls)
                    if stop > _STOP_RANK["tls"]:
                        self._stage("ehlo_tls", self._ehlo)
            if stop >= _STOP_RANK["auth"] and security != "none":
                if self.gate is not None:
                    status, outcome = self.gate.enter(self.port, self.deadline)
                    if status != "mine":
                        self._delegated(status, outcome)
                        return None
                # Without auth (a connector, which relays by IP or certificate) sending follows TLS.
                if plan["auth"]:
                    self._stage("auth", self._auth)
                if stop >= _STOP_RANK["send"]:
                    self._stage("send", self._send)
            return None
        except StageFailure as failure:
            return failure
        finally:
            if self._st["conn"] is not None:
                self._st["conn"].quit()

    # -- the port, with retries ---------------------------------------------

    def _backoff(self, attempt):
        base = self.backoff_base
        return min(base * (2 ** attempt), 8 * base) + random.uniform(0, base / 2.0)

    def run(self):
        attempts = self.plan["retries"] + 1
        earlier = []
        failure = None
        try:
            for attempt in range(attempts):
                failure = self._attempt()
                final = failure is None or not failure.transient or attempt == attempts - 1
                if not final and time.monotonic() + self._backoff(attempt) >= self.deadline:
                    final = True
                if self.gate is not None and self._st["reached_auth"] and final:
                    self.gate.finish(self.port, failure is None, failure.code if failure else None)
                if final:
                    break
                earlier.append("attempt %d: %s" % (attempt + 1, failure.detail))
                self.sleep(self._backoff(attempt))
        finally:
            if self.gate is not None:
                self.gate.release(self.port)
        self.result = self._assemble(failure, earlier)
        return self.result

    def _assemble(self, failure, earlier):
        st = self._st
        stages = st["stages"]
        if earlier and len(stages) > 1:
            stages[1]["detail"] = "%s (after %d retr%s: %s)" % (
                stages[1]["detail"], len(earlier), "y" if len(earlier) == 1 else "ies", "; ".join(earlier))
        diag = None
        if failure is not None:
            diag = diagnosis(failure.code)
        else:
            cert = (st["tls"] or {}).get("cert") or {}
            if cert.get("days_left") is not None and cert["days_left"] < CERT_WARNING_DAYS:
                diag = diagnosis("cert_expiring")
        return {
            "ok": failure is None,
            "security": self.spec["security"],
            "expected": self.spec["expect"],
            "address": st["address"],
            "stages": stages,
            "tls": st["tls"],
            "extensions": st["extensions"],
            "auth_mechanisms": st["auth_mechanisms"],
            "auth": st["auth"],
            "diagnosis": diag,
            "_delegated": st["delegated"],
        }


def _check_oauth(authority, plan, timeout, connect_timeout, ctx=None):
    """TCP and TLS to the token authority on 443: is this host ready for XOAUTH2?

    ctx: a verifying context to reuse (see run_probe), or None to build one.
    """
    start = time.monotonic()
    parsed = urlparse(authority)
    host = parsed.hostname
    port = parsed.port or 443
    stage = "dns"
    conn = None
    try:
        if ctx is None:
            ctx = build_context("1.2", plan["validate_certs"], plan["ca_path"])
        addresses = resolve(host, port, timeout)
        stage = "connect"
        conn, _addr = Connection.open(addresses, port, host, connect_timeout, timeout)
        stage = "tls"
        try:
            conn.start_tls(ctx, host)
        except ssl.SSLCertVerificationError as exc:
            code = match_cert_error(getattr(exc, "verify_code", None), getattr(exc, "verify_message", ""))
            return {"ok": False, "ms": _ms(start), "diagnosis": diagnosis(code)}
        return {"ok": True, "ms": _ms(start), "diagnosis": None}
    except (OSError, ValueError) as exc:
        code = match_error(stage, _error_text(exc), getattr(exc, "errno", None))
        if stage == "tls" and code not in ("tls_version_rejected",) and not code.startswith("cert_"):
            code = "tls_failed"
        return {"ok": False, "ms": _ms(start), "diagnosis": diagnosis(code)}
    finally:
        if conn is not None:
            conn.close()


def _port_summary(port, res):
    diag = res["diagnosis"] or {}
    code = diag.get("code")
    if code == "port_not_offered":
        if res["expected"] == "not_offered":
            return "%s not offered by this endpoint (expected)" % port
        return "%s not offered by this endpoint (times out while another port works)" % port
    if not res["ok"]:
        failed = [s["name"] for s in res["stages"] if not s["ok"]]
        return "%s failed at %s: %s (%s)" % (port, failed[-1] if failed else "?", code, diag.get("title"))
    parts = []
    tls = res["tls"] or {}
    if res["security"] == "starttls" and tls:
        parts.append("STARTTLS %s" % tls.get("version"))
    elif res["security"] == "tls" and tls:
        parts.append("TLS %s" % tls.get("version"))
    elif res["security"] == "none":
        parts.append("no TLS")
    if res["auth"]:
        reply = res["auth"]["reply"].split(" ")
        parts.append("AUTH %s %s" % (res["auth"]["mechanism"], " ".join(reply[:2])))
    elif res.get("_delegated"):
        parts.append("AUTH on %s" % res["_delegated"]["port"])
    sends = [s for s in res["stages"] if s["name"] == "send"]
    if sends and sends[-1]["ok"] and not sends[-1]["detail"].startswith(("skipped", "not repeated")):
        parts.append("sent %s" % " ".join(sends[-1]["detail"].split(" ")[:2]))
    if not parts:
        parts.append("connect" if len(res["stages"]) <= 2 else "reached")
    text = "%s ok (%s)" % (port, ", ".join(parts))
    if code:
        text += "; warning: %s" % diag.get("title")
    return text


def _login_passed(plan, gate):
    """With one port logging in for all, the host passes only if that login did.

    A port that waited for another port's login passes on its own stages, so the
    requirement alone would let a failed login through (require: any) or never see
    a login at all (no port got through TLS).
    """
    if gate is None:
        return not (plan["auth"] and not plan["auth_all_ports"] and _STOP_RANK[plan["stop_after"]] >= 4)
    outcome = gate.outcome
    return bool(outcome and outcome["ok"])


def endpoint_facts(plan):
    """What the report needs to judge readiness: the applications' port and the token authority."""
    return {"profile": plan["profile"], "host": plan["host"],
            "apps_port": plan["ports"][0]["port"] if plan["ports"] else None,
            "oauth_authority": plan.get("profile_oauth_authority")}


def check_local_files(plan):
    """Refuse, before any connection, a ca_path, client_cert or client_key this host cannot read.

    Raises smtp_client.ProbeInputError naming the option and the file.
    """
    for option in ("ca_path", "client_cert", "client_key"):
        path = plan.get(option)
        if not path:
            continue
        if not os.path.exists(path):
            raise ProbeInputError("%s %s does not exist on this host; give the path of a file (or, for ca_path, "
                                  "a hashed certificate directory) that is on the host" % (option, path))
        if not os.access(path, os.R_OK):
            raise ProbeInputError("%s %s cannot be read on this host (permissions); make it readable by the user "
                                  "Ansible runs as" % (option, path))


def _overall_ok(plan, ports):
    require = plan["require"]
    results = list(ports.values())
    if require == "any":
        return any(r["ok"] for r in results)
    if require == "all":
        return all(r["ok"] or (r["diagnosis"] or {}).get("code") == "port_not_offered" for r in results)
    return all(ports[str(p)]["ok"] for p in require)


def run_probe(plan, check_mode=False, sleep=time.sleep, backoff_base=1.0, contexts=None, helo=None):
    """Probe every port of the plan concurrently; return the module's result (without changed).

    contexts (verifying, not verifying) and helo: a caller's, to reuse; the connector path takes
    the main plan's, whose TLS settings it shares, rather than load the trust store and look up
    this host's name again.

    Raises smtp_client.ProbeInputError when a local file (ca_path, client_cert)
    cannot be used.
    """
    start = time.monotonic()
    timeout = plan["timeout"]
    check_local_files(plan)
    contexts = contexts or (
        build_context(plan["min_tls_version"], plan["validate_certs"], plan["ca_path"],
                      plan["client_cert"], plan["client_key"]),
        build_context(plan["min_tls_version"], plan["validate_certs"], plan["ca_path"],
                      plan["client_cert"], plan["client_key"], verify=False),
    )
    scrub = Scrubber(secrets_of(plan["auth"]))
    helo = plan["helo"] or helo or local_fqdn(min(timeout, 3))
    specs = plan["ports"]
    # Worst case of one port: every stage times out on every attempt, plus backoff.
    per_attempt = max(s["connect_timeout"] for s in specs) * 2 + timeout * 12
    deadline = start + (plan["retries"] + 1) * (per_attempt + 8 * backoff_base) + 5

    oauth_box = {}
    oauth_thread = None
    if plan.get("oauth_authority"):
        # The token endpoint is checked at TLS 1.2 or later without a client
        # certificate; when the ports' verifying context is exactly that, reuse it:
        # loading the system trust store is most of the probe's own CPU time.
        oauth_ctx = None
        if plan["min_tls_version"] == "1.2" and not plan["client_cert"]:
            oauth_ctx = contexts[0]

        def oauth_work():
            oauth_box["result"] = _check_oauth(plan["oauth_authority"], plan, timeout,
                                               min(s["connect_timeout"] for s in specs), oauth_ctx)
        oauth_thread = threading.Thread(target=oauth_work, name="oauth")
        oauth_thread.daemon = True
        oauth_thread.start()

    connector_box = {}
    connector_thread = None
    if plan.get("connector"):
        # The connector path is a second probe of its own (port 25 to the MX host), run
        # alongside: one module run per host checks both ways out.
        def connector_work():
            try:
                connector_box["result"] = run_probe(plan["connector"], check_mode, sleep, backoff_base,
                                                    contexts=contexts, helo=helo)
            except (OSError, ValueError) as exc:
                connector_box["error"] = _error_text(exc)
        connector_thread = threading.Thread(target=connector_work, name="connector")
        connector_thread.daemon = True
        connector_thread.start()

    relay_threads = _start_relay_hops(plan, check_mode, sleep, backoff_base, contexts, helo)

    dns_start = time.monotonic()
    host = plan["host"]
    try:
        addresses = resolve(host, specs[0]["port"], timeout)
        dns_stage = {"name": "dns", "ok": True, "ms": _ms(dns_start),
                     "detail": "%s -> %s" % (host, ", ".join(a[1][0] for a in addresses))}
    except (OSError, UnicodeError) as exc:
        addresses = None
        dns_stage = {"name": "dns", "ok": False, "ms": _ms(dns_start), "detail": "%s: %s" % (host, _error_text(exc))}

    ports = {}
    gate = None
    if addresses is None:
        for spec in specs:
            ports[str(spec["port"])] = {
                "ok": False, "security": spec["security"], "expected": spec["expect"], "address": None,
                "stages": [dict(dns_stage)], "tls": None, "extensions": [], "auth_mechanisms": [],
                "auth": None, "diagnosis": diagnosis("dns_failure"), "_delegated": None,
            }
    else:
        use_gate = plan["auth"] and not plan["auth_all_ports"] and _STOP_RANK[plan["stop_after"]] >= 4
        gate = _AuthGate([s["port"] for s in specs]) if use_gate else None
        probes = [PortProbe(plan, spec, addresses, dns_stage, contexts, gate, check_mode, helo, deadline,
                            sleep=sleep, backoff_base=backoff_base) for spec in specs]
        threads = []
        for probe in probes:
            thread = threading.Thread(target=probe.run, name="probe-%d" % probe.port)
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for probe in probes:
            res = probe.result
            if res is None:
                res = {"ok": False, "security": probe.spec["security"], "expected": probe.spec["expect"],
                       "address": None, "stages": [dict(dns_stage)], "tls": None, "extensions": [],
                       "auth_mechanisms": [], "auth": None, "diagnosis": diagnosis("unknown"), "_delegated": None}
                res["stages"].append({"name": "connect", "ok": False, "ms": _ms(start),
                                      "detail": "the probe of this port did not finish in time"})
            ports[str(probe.port)] = res
        _mark_not_offered(ports)

    if oauth_thread is not None:
        oauth_thread.join(max(0.0, deadline - time.monotonic()))
    ok = _overall_ok(plan, ports) and _login_passed(plan, gate)
    summary = "; ".join(_port_summary(p, ports[p]) for p in (str(s["port"]) for s in specs))
    for res in ports.values():
        res.pop("_delegated", None)
    result = {"ok": ok, "summary": summary, "elapsed_ms": _ms(start), "ports": ports,
              "endpoint": endpoint_facts(plan)}
    if plan.get("oauth_authority"):
        result["oauth_endpoint"] = oauth_box.get("result") or {
            "ok": False, "ms": _ms(start), "diagnosis": diagnosis("tcp_timeout")}
    if connector_thread is not None:
        connector_thread.join(max(0.0, deadline - time.monotonic()))
        result["connector"] = connector_box.get("result") or {
            "ok": False, "elapsed_ms": _ms(start), "ports": {},
            "summary": "the connector check %s" % (
                "failed: %s" % connector_box["error"] if "error" in connector_box else "did not finish in time")}
    if plan.get("relays"):
        result["relays"] = _join_relay_hops(relay_threads, deadline)
    return scrub.walk(result)


def _start_relay_hops(plan, check_mode, sleep, backoff_base, contexts, helo):
    """Each relay hop (plan["relays"]) is a probe of its own, run alongside the ports as the connector is:
    one module run per host checks its way to Microsoft 365 and to its relays. [(thread, hop, box)]."""
    started = []
    for hop in plan.get("relays") or []:
        box = {}
        thread = threading.Thread(target=_probe_hop, args=(hop, box, check_mode, sleep, backoff_base, contexts, helo),
                                  name="relay-%s-%d" % (hop["relay"]["host"], hop["relay"]["port"]))
        thread.daemon = True
        thread.start()
        started.append((thread, hop, box))
    return started


def _probe_hop(hop, box, check_mode, sleep, backoff_base, contexts, helo):
    try:
        box["result"] = run_probe(hop["plan"], check_mode, sleep, backoff_base, contexts=contexts, helo=helo)
    except (OSError, ValueError) as exc:
        box["error"] = _error_text(exc)


def _join_relay_hops(started, deadline):
    out = []
    for thread, hop, box in started:
        thread.join(max(0.0, deadline - time.monotonic()))
        res = box.get("result") or {"ok": False, "ports": {}, "elapsed_ms": None, "summary": "the relay check %s" % (
            "failed: %s" % box["error"] if "error" in box else "did not finish in time")}
        out.append(hop_result(hop["relay"], res, diagnosis))
    return out


def _mark_not_offered(ports):
    """A silent port is 'not offered' when the profile says so, or when another port on its address works."""
    connected = set()
    for res in ports.values():
        if any(s["name"] == "connect" and s["ok"] for s in res["stages"]):
            connected.add(res["address"])
    for res in ports.values():
        if (res["diagnosis"] or {}).get("code") != "tcp_timeout":
            continue
        if res["expected"] == "not_offered" or res["address"] in connected:
            res["diagnosis"] = diagnosis("port_not_offered")
