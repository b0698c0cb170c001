# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""One proof per application: read its file, send one real message the way the file says, and judge
whether Microsoft 365 accepted it (mailops.smtp.send_proof; contract 4 of issue 21).

Internal use only. The decision per app (decide) is apart from the sending, so that it is unit-tested
per preset; the senders are in _proof_send, the relay's log in _proof_log.

Accepted means the Microsoft 365 side accepted the message:
- app_command / smtp_client straight to Microsoft 365 (xoauth2, basic, connector): 250 after DATA;
- through a relay (via_relay, and Postfix's own queue): the relay's log records the upstream's
  acceptance (status=sent) for that message (found by its Message-ID or the relay's queue id);
- graph_client: Graph's 202.
A relay's own 250 ("queued as") is not an acceptance by Microsoft 365; when the relay's log cannot be
read here (a designated relay on another host) the proof says so (awaiting_relay_log) and names the
message, whose fate the relay host's run of the module (message_ids) then reads.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import socket
import time

from ansible_collections.mailops.smtp.plugins.module_utils import _proof_log, _proof_send
from ansible_collections.mailops.smtp.plugins.module_utils import _relay_hop
from ansible_collections.mailops.smtp.plugins.module_utils import diagnosis as diag
from ansible_collections.mailops.smtp.plugins.module_utils._proof_read import (
    APP_COMMAND, GRAPH_CLIENT, PATH_NONE, PATH_VIA_RELAY, RELAY_LOG, ReadError,
    app_file, is_loopback, read_app)

SUBJECT = "mailops.smtp send_proof: %s"
BODY = ("A proof message from mailops.smtp.send_proof: the application %s sent it the way its settings now "
        "say (%s). Nothing to do.")
# Where Debian's syslog puts Postfix's lines when main.cf sets no maillog_file.
SYSLOG_MAIL = "/var/log/mail.log"
_ADDRESS = re.compile(r"^[^\s<>@,;\"]+@[^\s<>@,;\"]+\Z")


class ProofInputError(ValueError):
    """An option the module cannot use; the message says what to give instead."""


def check_address(value, what):
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ProofInputError("%s must be one plain address such as ops@contoso.com, got %r" % (what, value))
    return value


def app_name(app):
    return app.get("name") or "%s %s" % (app.get("preset") or app.get("format") or "?",
                                         app.get("path") or "(default path)")


def decide(app):
    """What the proof of one app is: read_app's view plus the name and, for a relay, where its log is."""
    view = read_app(app)
    view["name"] = app_name(app)
    view["file"] = app_file(app)[0]
    # Whose log says whether Microsoft 365 took the message: the relay's (via_relay), this Postfix's.
    view["via_log"] = view["path"] == PATH_VIA_RELAY or app.get("preset") == "postfix"
    # Postfix queues the message itself: its own log has the next hop's answer.
    view["own_queue"] = app.get("preset") == "postfix"
    # Whether the log with Microsoft 365's answer is on this host: a loopback relay's, or this Postfix's
    # when it talks to Microsoft 365 itself (not through a designated relay).
    view["relay_local"] = is_loopback(view.get("host")) or (view["own_queue"] and view["path"] != PATH_VIA_RELAY)
    return view


def default_relay_log(run, config_dir=None):
    """This host's Postfix log: maillog_file from postconf, else Debian's syslog file; None if neither."""
    argv = ["postconf", "-h"] + (["-c", config_dir] if config_dir else []) + ["maillog_file"]
    rc, out, _err = run(argv, "", 20)
    path = out.strip() if rc == 0 else ""
    if path.startswith("/"):
        return path
    return SYSLOG_MAIL if os.path.exists(SYSLOG_MAIL) else None


def proof_record(view, kind, message_id, accepted=None, reply="", code=None, **extra):
    """One entry of the module's proofs list (contract 4), with no secret in it."""
    out = {"name": view["name"], "kind": kind, "accepted": accepted, "reply": reply, "path": view["path"],
           "diagnosis": code, "message_id": message_id, "file": view.get("file"), "host": view.get("host"),
           "port": view.get("port"), "tls": view.get("tls"), "user": view.get("user"),
           "message": None, "relay_upstream": None, "relay_queue_id": None, "awaiting_relay_log": False}
    out.update(extra)
    if code and not out["message"]:
        d = diag.diagnosis(code)
        out["message"] = "%s: %s %s" % (view["name"], d["title"], d["fix"])
    return out


def plan_entry(view, message_id, mail_from, to):
    """Check mode: what would be sent, and how it would be judged; nothing is sent."""
    judge = "the relay's log (upstream status=sent)" if view["via_log"] else (
        "Graph's 202" if view["kind"] == GRAPH_CLIENT else "the server's 250 after DATA")
    return proof_record(view, view["kind"], message_id, None, "", None, mail_from=mail_from, to=to,
                        message="would send one message from %s to %s with %s, judged by %s" % (
                            mail_from, to, _how(view), judge))


def _how(view):
    if view["kind"] == APP_COMMAND:
        return "msmtp --account=%s" % view["account"] if view.get("account") else "Postfix's sendmail"
    if view["kind"] == GRAPH_CLIENT:
        return "Microsoft Graph sendMail"
    return "an SMTP client to %s:%s (%s%s)" % (view["host"], view["port"], view["tls"],
                                               ", login %s" % view["user"] if view.get("user") else "")


def send_one(view, mail_from, to, message_id, ca_path, timeout, run, senders=None):
    """Send the app's proof message; _proof_send.result()."""
    s = senders or _proof_send
    subject = SUBJECT % message_id.strip("<>")
    body = BODY % (view["name"], view["path"])
    message = s.build_message(mail_from, to, subject, message_id, body)
    if view["kind"] == GRAPH_CLIENT:
        return s.graph_send(view, to, subject, body, ca_path=ca_path, timeout=timeout, message_id=message_id)
    if view["kind"] == APP_COMMAND and view.get("account"):
        return s.msmtp_send(view["file"], view["account"], to, message, run, timeout=timeout,
                            secrets=[view["secret"]])
    if view["kind"] == APP_COMMAND:
        return s.sendmail_send(view.get("config_dir"), mail_from, to, message, run, timeout=timeout)
    return s.smtp_send(view, mail_from, to, message, ca_path=ca_path, timeout=timeout)


def judge_by_log(view, record, sent, log_path, offset, wait):
    """The relay's verdict from its log, for a message its relay (or this Postfix) took."""
    found = _proof_log.wait_for_delivery(log_path, record["message_id"], offset, wait, sent.get("queue_id"))
    return verdict(view, record, sent, found, log_path, wait)


def verdict(view, record, sent, found, log_path, wait):
    """The record decided by what the log said of the message (found, as _proof_log gives it)."""
    record["relay_queue_id"] = found["queue_id"]
    record["relay_upstream"] = found["upstream"]
    if found["status"] == "sent":
        record.update(accepted=True, reply=found["reply"] or "status=sent", diagnosis=None)
        return record
    if found["status"] in ("unseen", "queued"):
        record.update(accepted=False, reply=found["reply"], diagnosis=None, message=(
            "%s: %s %s, but the relay's log %s %s within %d s; look at the relay's queue (postqueue -p) and "
            "its log" % (view["name"], "the relay took the message" if sent.get("queue_id") else
                         "the message was handed to Postfix", sent.get("reply") or "", log_path,
                         "names no delivery attempt of it" if found["status"] == "queued"
                         else "never named it", wait)))
        return record
    code = diag.match_reply(None, found["reply"]) or "unknown"
    record.update(accepted=False, reply=found["reply"], diagnosis=code)
    d = diag.diagnosis(code)
    record["message"] = "%s: the relay's upstream did not take the message (%s): %s %s" % (
        view["name"], found["status"], d["title"], d["fix"])
    return record


def proof_sender(mail_from, view, default_from=None):
    """The sender of an app's proof: the one given for every app (mail_from) first, then the sender the app's file
    names (its from address, else its login), then default_from. An app that sends through a relay without a login
    (Spring's via_relay file) may name none; migrate gives the mailbox of the credential moved to, the one sender
    Microsoft 365 takes from that login without SendAs rights."""
    return mail_from or view.get("from_address") or view.get("user") or default_from or None


def prove_app(app, mail_from, to, run, ca_path=None, timeout=30, relay_log=None, relay_wait=60, check_mode=False,
              senders=None, log_default=default_relay_log, domain=None, default_from=None):
    """The proof of one app (a contract-4 entry). Never raises for the app's own faults: they are its result.

    run(argv, stdin_text, timeout) -> (rc, out, err) runs a command (rc None: it could not run)."""
    message_id = _proof_send.new_message_id(domain)
    try:
        view = decide(app)
    except ReadError as e:
        return {"name": app_name(app), "kind": None, "accepted": False, "reply": "", "path": None,
                "diagnosis": None, "message_id": None, "message": str(e), "awaiting_relay_log": False}
    if not view["exists"]:
        view.update(name=app_name(app), file=app_file(app)[0])
        return proof_record(view, view["kind"], None, False, "", None,
                            message="%s: %s does not exist: nothing to prove" % (view["name"], view["file"]))
    if view["path"] == PATH_NONE:
        return proof_record(view, view["kind"], None, False, "", None, message=(
            "%s: %s names no relay host and no login that mailops.smtp wrote; configure the app first"
            % (view["name"], view["file"])))
    sender = proof_sender(mail_from, view, default_from)
    if not sender:
        return proof_record(view, view["kind"], None, False, "", None,
                            message="%s: the file names no sender; give mail_from or default_from" % view["name"])
    if check_mode:
        return plan_entry(view, message_id, sender, to)
    log_path, offset = None, None
    hop_to_relay = view["own_queue"] and not view["relay_local"]
    if hop_to_relay:
        log_path = log_default(run, view.get("config_dir"))
    elif view["via_log"] and (relay_log or view["relay_local"]):
        log_path = relay_log or log_default(run, view.get("config_dir"))
    offset = _proof_log.log_offset(log_path) if log_path else None
    sent = send_one(view, sender, to, message_id, ca_path, timeout, run, senders)
    kind = view["kind"]
    record = proof_record(view, kind, message_id, bool(sent["sent"]), sent["reply"], sent["diagnosis"],
                          relay_queue_id=sent.get("queue_id"))
    if not sent["sent"]:
        if view["path"] == PATH_VIA_RELAY and sent["diagnosis"] in _relay_hop._UNREACHABLE:
            # Nothing answered where the relay should be: the relay's fault, told as the probe tells it.
            record.update(diagnosis="relay_unreachable", message="%s: the relay at %s:%s %s: run the "
                          "mailops.smtp.relay playbook, start its Postfix, or check smtp_relay_listen" % (
                              view["name"], view["host"], view["port"], _relay_hop._UNREACHABLE[sent["diagnosis"]]))
            return record
        if not sent["diagnosis"]:
            record["message"] = "%s: %s" % (view["name"], sent["reply"])
        return record
    if not view["via_log"]:
        return record
    if not log_path:
        if view["relay_local"]:
            record.update(accepted=False, message=(
                "%s: the relay on this host took the message, but its Postfix log cannot be found (no "
                "maillog_file, no %s); give relay_log" % (view["name"], SYSLOG_MAIL)))
            return record
        record.update(accepted=False, awaiting_relay_log=True, message=(
            "%s: the designated relay %s:%s took the message (%s); whether Microsoft 365 accepted it is in "
            "that relay's log, which this host cannot read: run mailops.smtp.send_proof on the relay host with "
            "message_ids (or give relay_log where the log is shared)" % (
                view["name"], view["host"], view["port"], sent["reply"])))
        return record
    record = judge_by_log(view, record, sent, log_path, offset, relay_wait)
    if hop_to_relay and record["accepted"]:
        return designated_relay_next(view, record, relay_log, relay_wait)
    return record


def designated_relay_next(view, record, relay_log, relay_wait):
    """Postfix handed the message to a designated relay (its log's 250 is the relay's): the relay's log,
    where readable (relay_log), says whether Microsoft 365 took it; otherwise the proof awaits it."""
    m = _proof_send._QUEUED_AS.search(record["reply"] or "")
    qid = m.group(1) if m else None
    record.update(accepted=False, relay_queue_id=qid, relay_upstream=None)
    if relay_log:
        return judge_by_log(view, record, {"queue_id": qid}, relay_log, None, relay_wait)
    record.update(awaiting_relay_log=True, message=(
        "%s: Postfix handed the message to the designated relay %s:%s (%s); whether Microsoft 365 accepted it is "
        "in that relay's log: run mailops.smtp.send_proof on the relay host with message_ids"
        % (view["name"], view["host"], view["port"], record["reply"])))
    return record


def timed(prove, *args):
    """prove(*args), its record with waited_s: the seconds the proof took, which are spent waiting (for the
    server's answer, msmtp or sendmail, and the relay's log), and started_at: when it began (seconds since the
    epoch), so that the waits of hosts proving at the same time are counted once. migrate reports them."""
    started_at, started = time.time(), time.monotonic()
    record = prove(*args)
    record["started_at"] = round(started_at, 3)
    record["waited_s"] = round(time.monotonic() - started, 3)
    return record


def waited(proofs):
    """The seconds all the proofs took together (the module's waited_s)."""
    return round(sum(p.get("waited_s") or 0.0 for p in proofs), 3)


def lookup(items, relay_log, relay_wait=60):
    """On a designated relay's host: the fate of messages other hosts sent (kind relay_log), read in one
    watch of the log for all of them; relay_wait is how long it waits without any of them delivered.
    Each record's waited_s is from the start of the watch until its message's fate was known."""
    started_at = round(time.time(), 3)
    seen = _proof_log.wait_for_deliveries(relay_log, [item["message_id"] for item in items], relay_wait)
    out = []
    for item in items:
        view = {"name": item.get("name") or item.get("message_id"), "path": PATH_VIA_RELAY}
        found, seconds = seen[item["message_id"]]
        record = verdict(view, proof_record(view, RELAY_LOG, item["message_id"], False), {}, found, relay_log,
                         relay_wait)
        record.update(started_at=started_at, waited_s=round(seconds, 3))
        out.append(record)
    return out


def prove_all(apps, to, run, mail_from=None, ca_path=None, timeout=30, relay_log=None, relay_wait=60,
              check_mode=False, senders=None, log_default=default_relay_log, default_from=None):
    check_address(to, "to")
    for given, option in ((mail_from, "mail_from"), (default_from, "default_from")):
        if given:
            check_address(given, option)
    domain = socket.gethostname() or None
    if domain and not re.match(r"^[A-Za-z0-9.\-]+\Z", domain):
        domain = None
    return [timed(prove_app, app, mail_from, to, run, ca_path, timeout, relay_log, relay_wait, check_mode, senders,
                  log_default, domain, default_from) for app in apps]
