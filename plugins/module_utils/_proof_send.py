# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sending the proof message: the app's own command (msmtp, Postfix's sendmail), an SMTP client with the
app's settings, or the Graph mailer (for mailops.smtp.send_proof).

Internal use only. Each sender returns {"sent", "reply", "step", "diagnosis", "queue_id"}: sent is
whether the server it spoke to took the message (250 after DATA, Graph's 202, the command's success),
reply its words, step where it stopped. No secret is ever in the result: the password is used on
the wire only, and every text that comes back is scrubbed of it all the same.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import ssl
import time
import uuid

from ansible_collections.mailops.smtp.plugins.module_utils import diagnosis as diag
from ansible_collections.mailops.smtp.plugins.module_utils import smtp_client as sc

SENDMAIL = "/usr/sbin/sendmail"
MSMTP = "msmtp"
_QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]+)")
# msmtp's log line (--logfile=-): smtpstatus=NNN smtpmsg='...' exitcode=EX_...
_MSMTP_STATUS = re.compile(r"smtpstatus=([0-9]{3})")
_MSMTP_MSG = re.compile(r"smtpmsg='(.*?)'(?: errormsg=| exitcode=|$)")
_MSMTP_SERVER = re.compile(r"server message: ([0-9]{3}(?:[ -].*)?)$")
_MSMTP_ERRMSG = re.compile(r"errormsg='(.*?)'(?: exitcode=|$)")


def scrub(text, secrets):
    """text with every secret replaced (a server or a command could echo what it was given)."""
    text = text or ""
    for s in secrets:
        if s and isinstance(s, str) and len(s) >= 1:
            text = text.replace(s, "********")
    return text


def new_message_id(domain=None):
    return "<mailops-proof.%s@%s>" % (uuid.uuid4().hex, domain or "mailops.invalid")


def build_message(mail_from, to, subject, message_id, body):
    """The proof message, CRLF line ends; headers hold no input with a line break (refused before)."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    lines = ["From: %s" % mail_from, "To: %s" % to, "Subject: %s" % subject, "Date: %s" % date,
             "Message-ID: %s" % message_id, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             "Auto-Submitted: auto-generated", "", body]
    return "\r\n".join(lines) + "\r\n"


def result(sent, reply="", step=None, code=None, queue_id=None):
    return {"sent": sent, "reply": reply, "step": step, "diagnosis": code, "queue_id": queue_id}


def _dot_stuff(message):
    return "\r\n".join(("." + l) if l.startswith(".") else l for l in message.split("\r\n"))


def _auth(conn, mechanisms, user, secret):
    """LOGIN where offered (Microsoft 365 offers LOGIN and XOAUTH2, never PLAIN), else PLAIN."""
    if "LOGIN" in mechanisms or "PLAIN" not in mechanisms:
        reply = conn.command("AUTH LOGIN")
        if reply.code != 334:
            return reply
        reply = conn.command(sc.b64(user))
        if reply.code != 334:
            return reply
        return conn.command(sc.b64(secret))
    return conn.command("AUTH PLAIN " + sc.plain_blob(user, secret))


def smtp_send(app, mail_from, to, message, ca_path=None, timeout=30, helo=None):
    """Speak SMTP to the app's host and port with its TLS mode and login; result() of the session."""
    host, port, tls = app["host"], int(app["port"]), app["tls"]
    secrets = [app.get("secret")]
    step = "dns"
    conn = None
    try:
        addresses = sc.resolve(host, port, timeout)
        step = "connect"
        conn, _addr = sc.Connection.open(addresses, port, host, timeout, timeout)
        ctx = sc.build_context(ca_path=ca_path) if tls != "none" else None
        # tls: none, starttls (required), may (STARTTLS when offered, as Symfony Mailer does), tls (implicit).
        if tls == "tls":
            step = "tls"
            conn.start_tls(ctx, host)
        step = "banner"
        reply = conn.read_reply()
        if reply.code != 220:
            return result(False, str(reply), step, diag.match_reply(reply.code, reply.text) or "unknown")
        step = "ehlo"
        name = helo or sc.local_fqdn(2)
        reply = conn.command("EHLO " + name)
        if reply.code != 250:
            return result(False, str(reply), step, diag.match_reply(reply.code, reply.text) or "unknown")
        extensions, mechanisms = sc.parse_ehlo(reply)
        offered = sc.has_extension(extensions, "STARTTLS")
        if tls == "starttls" or (tls == "may" and offered):
            step = "starttls"
            if not offered:
                return result(False, "the server at %s:%d offers no STARTTLS, which the app's settings require"
                              % (host, port), step, "starttls_missing")
            reply = conn.command("STARTTLS")
            if reply.code != 220:
                return result(False, str(reply), step, diag.match_reply(reply.code, reply.text) or "unknown")
            conn.start_tls(ctx, host)
            step = "ehlo"
            reply = conn.command("EHLO " + name)
            extensions, mechanisms = sc.parse_ehlo(reply)
        if app.get("user") or app.get("secret"):
            step = "auth"
            reply = _auth(conn, mechanisms, app.get("user") or "", app.get("secret") or "")
            if reply.code != 235:
                return result(False, scrub(str(reply), secrets), step,
                              diag.match_reply(reply.code, reply.text) or "auth_failed")
        for step, line in (("mail", "MAIL FROM:<%s>" % mail_from), ("rcpt", "RCPT TO:<%s>" % to),
                           ("data", "DATA")):
            reply = conn.command(line)
            if reply.code not in (250, 251, 354):
                return result(False, scrub(str(reply), secrets), step,
                              diag.match_reply(reply.code, reply.text) or "unknown")
        step = "data"
        conn.send_raw((_dot_stuff(message) + ".\r\n").encode("utf-8"))
        reply = conn.read_reply(timeout)
        text = scrub(str(reply), secrets)
        m = _QUEUED_AS.search(reply.text)
        if reply.code != 250:
            return result(False, text, step, diag.match_reply(reply.code, reply.text) or "unknown")
        return result(True, text, step, None, m.group(1) if m else None)
    except ssl.SSLCertVerificationError as e:
        return result(False, scrub(str(e), secrets), step,
                      diag.match_cert_error(getattr(e, "verify_code", None), str(e)))
    except (OSError, ssl.SSLError, socket.timeout, sc.ProtocolError, ValueError) as e:
        return result(False, scrub("%s: %s" % (type(e).__name__, e), secrets), step,
                      diag.match_error(step, str(e), getattr(e, "errno", None)))
    finally:
        if conn is not None:
            conn.quit()


def msmtp_argv(config_file, account, to, msmtp=MSMTP):
    """msmtp as the app runs it, on its own configuration file and account; the log line on stdout
    (never --debug: it would print the AUTH exchange, the token among it)."""
    return [msmtp, "--file=%s" % config_file, "--account=%s" % account, "--logfile=-", "--", to]


def msmtp_reply(rc, out, err):
    """(reply text, diagnosis code or None) from msmtp's log line and its error output."""
    msg = _MSMTP_MSG.search(out)
    status = _MSMTP_STATUS.search(out)
    server = [m.group(1) for m in (_MSMTP_SERVER.search(l.strip()) for l in err.splitlines()) if m]
    if msg and status:
        reply = "%s" % msg.group(1) if msg.group(1).startswith(status.group(1)) else "%s %s" % (
            status.group(1), msg.group(1))
    elif server:
        reply = server[-1]
    else:
        errmsg = _MSMTP_ERRMSG.search(out)
        reply = (errmsg.group(1) if errmsg else err.strip().splitlines()[-1] if err.strip() else "")
    if rc == 0:
        return reply or "250 (msmtp exit status 0)", None
    code = diag.match_reply(None, reply) if reply[:3].isdigit() else diag.match_error("data", reply)
    return reply, code or "unknown"


def msmtp_send(config_file, account, to, message, run, timeout=60, secrets=(), msmtp=MSMTP):
    """run(argv, stdin_text, timeout) -> (rc, out, err), rc None when the command could not run."""
    rc, out, err = run(msmtp_argv(config_file, account, to, msmtp), message, timeout)
    reply, code = msmtp_reply(rc, scrub(out, secrets), scrub(err, secrets))
    m = _QUEUED_AS.search(reply)
    return result(rc == 0, reply, "app_command", code, m.group(1) if m else None)


def sendmail_argv(config_dir, mail_from, to, sendmail=SENDMAIL):
    argv = [sendmail]
    if config_dir and config_dir.rstrip("/") != "/etc/postfix":
        argv += ["-C", config_dir]
    return argv + ["-i", "-f", mail_from, "--", to]


def sendmail_send(config_dir, mail_from, to, message, run, timeout=60, sendmail=SENDMAIL):
    """Postfix's sendmail takes the message into the queue; its verdict is the log's (the caller's)."""
    rc, out, err = run(sendmail_argv(config_dir, mail_from, to, sendmail), message, timeout)
    if rc == 0:
        return result(True, "queued by %s" % sendmail, "app_command")
    text = (err or out).strip() or "sendmail exit status %s" % rc
    return result(False, text, "app_command", diag.match_error("data", text))


def graph_send(app, to, subject, body, ca_path=None, timeout=30, loader=None, message_id=None):
    """GitLab's Graph mailer: _graph_send.send_mail (contract 5), imported only when a proof needs it.
    message_id: the proof's Message-ID, sent as the message's internetMessageId."""
    try:
        send_mail = (loader or _load_graph_send)()
    except ImportError:
        return result(False, "the Graph sendMail client (module_utils/_graph_send.py) is not available in "
                             "this version of mailops.smtp: GitLab's Graph mailer cannot be proven here; send "
                             "GitLab through the relay (options.mode via_relay) or prove it by hand",
                      "graph", None)
    g = app["graph"]
    try:
        out = send_mail(token_url=g["token_url"], client_id=g["client_id"], client_secret=app.get("secret"),
                        tenant_id=g["tenant_id"], graph_url=g["graph_url"], sender=g["sender"], to=to,
                        subject=subject, body=body, ca_path=ca_path, timeout=timeout, message_id=message_id)
    except Exception as e:  # a bug in the client must not leak its arguments: only the type and a scrubbed text
        return result(False, scrub("%s: %s" % (type(e).__name__, e), [app.get("secret")]), "graph", "unknown")
    accepted = bool(out.get("accepted"))
    return result(accepted, scrub(str(out.get("reply") or out.get("status") or ""), [app.get("secret")]),
                  "graph", None if accepted else (out.get("diagnosis") or "unknown"))


def _load_graph_send():
    from ansible_collections.mailops.smtp.plugins.module_utils._graph_send import send_mail
    return send_mail
