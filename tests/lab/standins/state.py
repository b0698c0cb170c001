# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-ins' run-time state: mailboxes, apps, tokens, faults, counters and received mail.

The SMTP side runs on the asyncio loop and Entra and the Vault proxy on threads, so every
access goes through one lock. Nothing here returns a password or secret; the access tokens
Entra issued are listed only by `issued_tokens`, for the leak scans that look for them.

The clock of the rate limits is scaled: `minute_seconds` (config smtp.minute_seconds, default 60,
or `set_clock`) is one minute of Microsoft's per-minute window, and a day is 1440 of them.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections import defaultdict
from pathlib import Path

from tests.lab.standins import replies
from tests.lab.standins.config import normalise_app
from tests.lab.standins.jwt_tokens import GRAPH_AUDIENCE, MAIL_SEND, SEND_AS_APP, TokenSigner

SMTP_FAULTS = {
    "tarpit": {"seconds"},
    "banner_421": set(),
    "throttle": {"stage"},
    "reset_after_starttls": set(),
    "legacy_tls": set(),
    "bad_cert": {"kind"},
    "starttls_stripped": set(),
    "starttls_masked": set(),
    # The old, stricter model: the AUTH that would make a 4th concurrent session gets 432.
    "concurrency_at_auth": set(),
    # Sending refused from these client addresses (550 5.7.708 at MAIL FROM); a login alone still works.
    "ip_rejected": {"peers"},
}
ENTRA_FAULTS = {"down": set(), "500": set(), "invalid_json": set(), "bad_cert": {"kind"}}
GRAPH_FAULTS = {"down": set(), "bad_cert": {"kind"}}
FAULTS = {"smtp": SMTP_FAULTS, "connector": SMTP_FAULTS, "entra": ENTRA_FAULTS, "graph": GRAPH_FAULTS}
THROTTLE_STAGES = ("banner", "mail", "rcpt")
# Microsoft 365 delivers 30 messages a minute per mailbox and carries the excess over to the
# following minutes; 10,000 recipients a day, beyond which it refuses (m365-facts.md).
MESSAGES_PER_MINUTE = 30
RECIPIENTS_PER_DAY = 10000
MINUTES_PER_DAY = 1440
BAD_CERT_KINDS = ("expired", "wrong_name", "untrusted")
MAX_MESSAGES = 5000


def _mailbox_counters() -> dict:
    # connections: authenticated sessions opened so far; current: those still open now.
    # sending: sessions between an accepted MAIL FROM and the reply to their message body.
    return {"auth_ok": 0, "auth_fail": 0, "auth_rejected_concurrency": 0, "connections": 0,
            "current": 0, "peak_concurrent": 0, "sending": 0, "peak_sending": 0,
            "send_rejected_concurrency": 0, "messages": 0, "messages_delayed": 0,
            "messages_refused_quota": 0}


class State:
    def __init__(self, config: dict):
        self.config = config
        self.lock = threading.RLock()
        self.store = Path(config["store_dir"]) / "messages"
        self.signer = TokenSigner()
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            cfg = self.config
            self.mailboxes = copy.deepcopy(cfg["mailboxes"])
            self.apps = copy.deepcopy(cfg["apps"])
            self.tokens: dict[str, dict] = {}
            self.faults: dict[str, dict[str, dict]] = {t: {} for t in FAULTS}
            self.concurrency_limit = cfg["smtp"].get("concurrency_limit", 3)
            self.minute_seconds = float(cfg["smtp"].get("minute_seconds", 60))
            self.idle_timeout = float(cfg["smtp"].get("idle_timeout", 300))
            self.epoch = time.monotonic()
            self.port_modes = dict(cfg["smtp"]["ports"])
            self.token_lifetime = (cfg.get("entra") or {}).get("token_lifetime", 3599)
            self.sessions: dict[str, set] = defaultdict(set)
            # Per mailbox: session id -> True when that session is over the sending limit.
            self.sending: dict[str, dict[int, bool]] = defaultdict(dict)
            self.mbx_counters: dict[str, dict] = defaultdict(_mailbox_counters)
            self.port_connections: dict[str, int] = defaultdict(int)
            self.entra_counters = {"requests": 0, "tokens_issued": 0, "errors": defaultdict(int)}
            self.graph_counters = {"requests": 0, "accepted": 0, "errors": defaultdict(int)}
            self.vault_rules: list[dict] = []
            self.vault_counters = {"requests": 0, "faulted": 0, "delayed": 0, "passed": 0,
                                   "upstream_errors": 0}
            self.messages: list[dict] = []
            # Per mailbox: minute -> messages delivered in it; (time, recipients) of the last
            # day; and the end of a block after the daily recipient limit was exceeded.
            self.deliveries: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
            self.recipients_sent: dict[str, list[tuple[float, int]]] = defaultdict(list)
            self.blocked_until: dict[str, float] = {}
        self.store.mkdir(parents=True, exist_ok=True)
        for old in self.store.glob("*.json"):
            old.unlink()

    # -- faults ----------------------------------------------------------------------------
    def set_fault(self, name: str, target: str = "smtp", **params) -> None:
        if target not in FAULTS:
            raise ValueError(f"unknown fault target '{target}'; use one of {', '.join(FAULTS)}")
        allowed = FAULTS[target]
        if name not in allowed:
            raise ValueError(f"unknown {target} fault '{name}'; use one of {', '.join(allowed)}")
        extra = set(params) - allowed[name]
        if extra:
            raise ValueError(f"fault '{name}' takes no parameter(s) {', '.join(sorted(extra))}")
        if name == "bad_cert" and params.get("kind") not in BAD_CERT_KINDS:
            raise ValueError(f"bad_cert needs kind= one of {', '.join(BAD_CERT_KINDS)}")
        if name == "ip_rejected" and (not isinstance(params.get("peers"), list) or not params["peers"]):
            raise ValueError("ip_rejected needs peers= a non-empty list of client IP addresses")
        if name == "throttle":
            params.setdefault("stage", "mail")
            if params["stage"] not in THROTTLE_STAGES:
                raise ValueError(f"throttle stage must be one of {', '.join(THROTTLE_STAGES)}")
        with self.lock:
            self.faults[target][name] = dict(params)

    def clear_faults(self, target: str | None = None) -> None:
        with self.lock:
            for t in ([target] if target else list(FAULTS)):
                self.faults[t] = {}

    def fault(self, target: str, name: str) -> dict | None:
        with self.lock:
            found = self.faults[target].get(name)
            return dict(found) if found is not None else None

    # -- mailboxes -------------------------------------------------------------------------
    def set_mailbox(self, address: str, **changes) -> None:
        address = address.lower()
        allowed = {"passwords", "smtp_auth_disabled", "basic_auth_retired", "send_as",
                   "messages_per_minute", "recipients_per_day"}
        extra = set(changes) - allowed
        if extra:
            raise ValueError(f"set_mailbox takes only {', '.join(sorted(allowed))}")
        with self.lock:
            box = self.mailboxes.setdefault(address, {"passwords": [], "smtp_auth_disabled": False,
                                                      "basic_auth_retired": False, "send_as": []})
            for key, value in changes.items():
                if key == "send_as":
                    value = [a.lower() for a in value]
                if key in ("messages_per_minute", "recipients_per_day"):
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        raise ValueError(f"{key} must be a whole number of at least 1")
                    box[key] = value
                    continue
                box[key] = list(value) if isinstance(value, (list, tuple)) else bool(value)

    def add_password(self, address: str, password: str) -> None:
        with self.lock:
            box = self._box(address)
            if password not in box["passwords"]:
                box["passwords"].append(password)

    def revoke_password(self, address: str, password: str) -> None:
        with self.lock:
            box = self._box(address)
            if password not in box["passwords"]:
                raise ValueError(f"that password is not valid for {address}; nothing revoked")
            box["passwords"].remove(password)

    def _box(self, address: str) -> dict:
        box = self.mailboxes.get(address.lower())
        if box is None:
            raise ValueError(f"no mailbox {address}; create it with set_mailbox first")
        return box

    def set_concurrency_limit(self, limit: int | None) -> None:
        with self.lock:
            self.concurrency_limit = None if limit is None else int(limit)

    # -- SMTP authentication ---------------------------------------------------------------
    def auth_basic(self, mailbox: str, password: str, host: str) -> str | None:
        """None if the login is good, else the reply Microsoft would give."""
        mailbox = mailbox.lower()
        with self.lock:
            box = self.mailboxes.get(mailbox)
            if box is not None and box["basic_auth_retired"]:
                reply = replies.AUTH_BASIC_RETIRED
            # compare_digest takes str only when it is ASCII; passwords need not be.
            elif box is None or not any(secrets.compare_digest(password.encode(), p.encode())
                                        for p in box["passwords"]):
                reply = replies.AUTH_BAD
            elif box["smtp_auth_disabled"]:
                reply = replies.AUTH_SMTP_DISABLED
            else:
                return None
            self.mbx_counters[mailbox]["auth_fail"] += 1
            return reply.format(where=replies.where(host))

    def auth_token(self, mailbox: str, token: str, host: str) -> tuple:
        """As Exchange Online: a signed token for its audience, with SMTP.SendAsApp, unexpired,
        of an app whose service principal may use the mailbox; else 535 5.7.3.

        Returns (None, the app registration's client id) for a good login, so that the message
        record can show which app a relay logged in as (auth_app); else (the reply, None)."""
        mailbox = mailbox.lower()
        claims = self.signer.verify(token)
        with self.lock:
            grant = self.tokens.get(token)
            app = self.apps.get(str(claims.get("appid", "")).lower()) if claims else None
            box = self.mailboxes.get(mailbox)
            ok = (claims is not None and app is not None and box is not None
                  and SEND_AS_APP in claims.get("roles", [])
                  and not (grant is not None and grant["revoked"])
                  and mailbox in app["mailboxes"])
            if ok and not box["smtp_auth_disabled"]:
                return None, str(claims["appid"]).lower()
            self.mbx_counters[mailbox]["auth_fail"] += 1
            return (replies.AUTH_SMTP_DISABLED if ok else replies.AUTH_BAD).format(where=replies.where(host)), None

    def open_session(self, mailbox: str, session_id: int) -> bool:
        """Count an authenticated session. Refuses (False) only under the fault
        concurrency_at_auth: Microsoft limits connections *sending* at once, not logins."""
        mailbox = mailbox.lower()
        with self.lock:
            live = self.sessions[mailbox]
            counters = self.mbx_counters[mailbox]
            at_auth = "concurrency_at_auth" in self.faults["smtp"]
            if at_auth and self.concurrency_limit is not None and len(live) >= self.concurrency_limit:
                counters["auth_rejected_concurrency"] += 1
                return False
            live.add(session_id)
            counters["auth_ok"] += 1
            counters["connections"] += 1
            counters["current"] = len(live)
            counters["peak_concurrent"] = max(counters["peak_concurrent"], len(live))
            return True

    def close_session(self, mailbox: str, session_id: int) -> None:
        mailbox = mailbox.lower()
        with self.lock:
            live = self.sessions[mailbox]
            live.discard(session_id)
            self.mbx_counters[mailbox]["current"] = len(live)
        self.stop_sending(mailbox, session_id)

    # -- sending: concurrency, per-minute pacing, daily recipients --------------------------
    def start_sending(self, mailbox: str, session_id: int) -> None:
        """A session's MAIL FROM was accepted: it sends until the reply to its message body.

        Whether it is over the limit is decided now, against the sessions already sending, so
        the first three in flight go through and only the later ones get 432 at end of DATA."""
        mailbox = mailbox.lower()
        with self.lock:
            live = self.sending[mailbox]
            within = [sid for sid, over in live.items() if not over and sid != session_id]
            limit = self.concurrency_limit
            over = limit is not None and "concurrency_at_auth" not in self.faults["smtp"] \
                and len(within) >= limit
            live[session_id] = over
            counters = self.mbx_counters[mailbox]
            counters["sending"] = len(live)
            counters["peak_sending"] = max(counters["peak_sending"], len(live))

    def stop_sending(self, mailbox: str, session_id: int) -> bool:
        """The session's message got its reply (or was reset): True if it was over the limit."""
        mailbox = mailbox.lower()
        with self.lock:
            live = self.sending[mailbox]
            over = live.pop(session_id, False)
            self.mbx_counters[mailbox]["sending"] = len(live)
            if over:
                self.mbx_counters[mailbox]["send_rejected_concurrency"] += 1
            return over

    def set_clock(self, minute_seconds: float) -> None:
        """Scale the rate limits' minute (and so their day); restarts the minute count."""
        if isinstance(minute_seconds, bool) or not isinstance(minute_seconds, (int, float)) \
                or not 0.001 <= minute_seconds <= 3600:
            raise ValueError("minute_seconds must be a number of seconds between 0.001 and 3600")
        with self.lock:
            self.minute_seconds = float(minute_seconds)
            self.epoch = time.monotonic()
            self.deliveries.clear()
            self.recipients_sent.clear()
            self.blocked_until.clear()

    def set_idle_timeout(self, seconds: float) -> None:
        """Seconds of silence before a new session is ended with 421 4.4.1."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0.5 <= seconds <= 3600:
            raise ValueError("idle timeout must be between 0.5 and 3600 seconds")
        with self.lock:
            self.idle_timeout = float(seconds)

    def minute_now(self) -> int:
        with self.lock:
            return int((time.monotonic() - self.epoch) // self.minute_seconds)

    def take_recipients(self, mailbox: str, count: int) -> bool:
        """False when the mailbox's recipients of the last day would pass its daily limit.

        Exceeding it blocks the mailbox for a day (Microsoft: "up to 24 hours")."""
        mailbox = mailbox.lower()
        now = time.monotonic()
        with self.lock:
            day = MINUTES_PER_DAY * self.minute_seconds
            limit = self.mailboxes.get(mailbox, {}).get("recipients_per_day", RECIPIENTS_PER_DAY)
            recent = [(t, n) for t, n in self.recipients_sent[mailbox] if now - t < day]
            self.recipients_sent[mailbox] = recent
            blocked = now < self.blocked_until.get(mailbox, 0.0)
            if blocked or sum(n for _t, n in recent) + count > limit:
                if not blocked:
                    self.blocked_until[mailbox] = now + day
                self.mbx_counters[mailbox]["messages_refused_quota"] += 1
                return False
            recent.append((now, count))
            return True

    def schedule_delivery(self, mailbox: str) -> dict:
        """The minute an accepted message is delivered in: the first from now that has fewer
        than the mailbox's messages_per_minute, since Microsoft carries the excess over to the
        following minutes instead of refusing it."""
        mailbox = mailbox.lower()
        with self.lock:
            minute = self.minute_now()
            limit = self.mailboxes.get(mailbox, {}).get("messages_per_minute", MESSAGES_PER_MINUTE)
            slots = self.deliveries[mailbox]
            for old in [m for m in slots if m < minute]:
                del slots[old]
            delivery = minute
            while slots[delivery] >= limit:
                delivery += 1
            slots[delivery] += 1
            delayed = delivery > minute
            if delayed:
                self.mbx_counters[mailbox]["messages_delayed"] += 1
            return {"submitted_minute": minute, "delivery_minute": delivery, "delayed": delayed,
                    "delay_seconds": round((delivery - minute) * self.minute_seconds, 3)}

    def send_as_allowed(self, mailbox: str, sender: str) -> bool:
        mailbox, sender = mailbox.lower(), sender.lower()
        with self.lock:
            box = self.mailboxes.get(mailbox, {})
            return sender == mailbox or sender in box.get("send_as", [])

    # -- Entra -----------------------------------------------------------------------------
    def set_app(self, client_id: str, **spec) -> None:
        with self.lock:
            self.apps[client_id.lower()] = normalise_app(spec)

    def remove_app(self, client_id: str) -> None:
        with self.lock:
            self.apps.pop(client_id.lower(), None)

    def expire_secret(self, client_id: str, secret: str) -> None:
        with self.lock:
            app = self.apps.get(client_id.lower())
            if app is None or secret not in app["secrets"]:
                raise ValueError(f"app {client_id} has no such current secret; nothing expired")
            app["secrets"].remove(secret)
            app["expired_secrets"].append(secret)

    def set_token_lifetime(self, seconds: int) -> None:
        with self.lock:
            self.token_lifetime = int(seconds)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as after its expiry or a revocation)."""
        with self.lock:
            for grant in self.tokens.values():
                grant["revoked"] = True

    def issue_token(self, client_id: str, scope: str) -> tuple[str, int]:
        """A signed JWT for the resource the scope names, as Entra issues one."""
        client_id = client_id.lower()
        with self.lock:
            lifetime = self.token_lifetime
            app = self.apps.get(client_id) or {}
            tenant_id = self.resolve_tenant(app.get("tenant", "")) or app.get("tenant", "")
            audience = scope[:-len("/.default")]
            # Entra puts the app's application permissions *on that resource* into `roles`.
            if audience == GRAPH_AUDIENCE:
                roles = [MAIL_SEND] if app.get("mail_send") else []
            else:
                roles = [SEND_AS_APP] if app.get("send_as_app") else []
        token = self.signer.issue(tenant_id=tenant_id, client_id=client_id,
                                  audience=audience, lifetime=lifetime, roles=roles,
                                  app_name="mailops-lab-" + client_id[:8])
        with self.lock:
            self.tokens[token] = {"client_id": client_id, "scope": scope, "revoked": False,
                                  "issued_at": time.time(), "expires_at": time.time() + lifetime}
            self.entra_counters["tokens_issued"] += 1
        return token, lifetime

    def issued_tokens(self, client_id: str | None = None) -> list[dict]:
        """Every token Entra issued since the last reset (for the leak scans), oldest first."""
        with self.lock:
            return [{"token": t, "client_id": g["client_id"], "issued_at": g["issued_at"]}
                    for t, g in self.tokens.items()
                    if client_id is None or g["client_id"] == client_id.lower()]

    def resolve_tenant(self, tenant: str) -> str | None:
        tenant = tenant.lower()
        with self.lock:
            if tenant in self.config["tenants"]:
                return self.config["tenants"][tenant]
            if tenant in self.config["tenants"].values():
                return tenant
        return None

    # -- Vault proxy -----------------------------------------------------------------------
    def add_vault_fault(self, status: int | None = None, delay: float | None = None,
                        times: int | None = 1, path_prefix: str = "") -> None:
        if status is None and delay is None:
            raise ValueError("a vault fault needs status= (412, 429, 5xx) or delay= seconds")
        if status is not None and status not in replies.VAULT_ERRORS and not 500 <= status < 600:
            raise ValueError("vault fault status must be 412, 429 or 5xx")
        if delay is not None and not 0 <= float(delay) <= 120:
            raise ValueError("vault fault delay must be between 0 and 120 seconds")
        with self.lock:
            self.vault_rules.append({"status": status, "delay": delay, "times": times,
                                     "path_prefix": path_prefix})

    def clear_vault_faults(self) -> None:
        with self.lock:
            self.vault_rules = []

    def take_vault_fault(self, path: str) -> dict | None:
        """The first matching rule, with one use consumed."""
        with self.lock:
            self.vault_counters["requests"] += 1
            for rule in self.vault_rules:
                if rule["times"] is not None and rule["times"] <= 0:
                    continue
                if not path.startswith(rule["path_prefix"]):
                    continue
                if rule["times"] is not None:
                    rule["times"] -= 1
                self.vault_counters["faulted" if rule["status"] else "delayed"] += 1
                return dict(rule)
            return None

    def count(self, table: str, key: str) -> None:
        with self.lock:
            if table == "port":
                self.port_connections[key] += 1
            elif table == "vault":
                self.vault_counters[key] += 1
            elif table == "entra":
                self.entra_counters[key] += 1
            elif table == "entra_error":
                self.entra_counters["errors"][key] += 1
            elif table == "graph":
                self.graph_counters[key] += 1
            elif table == "graph_error":
                self.graph_counters["errors"][key] += 1

    # -- inspection ------------------------------------------------------------------------
    def record_message(self, message: dict) -> None:
        with self.lock:
            if len(self.messages) >= MAX_MESSAGES:
                del self.messages[0]
            self.messages.append(message)
            if message.get("auth_identity") and message.get("auth_mechanism") != "certificate":
                self.mbx_counters[message["auth_identity"]]["messages"] += 1
            seq = len(list(self.store.glob("*.json"))) + 1
        path = self.store / f"{seq:06d}.json"
        path.write_text(json.dumps(message, indent=1))

    def snapshot_messages(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(self.messages)

    def clear_messages(self) -> None:
        with self.lock:
            self.messages = []

    def counters(self) -> dict:
        with self.lock:
            return {
                "mailboxes": copy.deepcopy(dict(self.mbx_counters)),
                "ports": dict(self.port_connections),
                "entra": {"requests": self.entra_counters["requests"],
                          "tokens_issued": self.entra_counters["tokens_issued"],
                          "errors": dict(self.entra_counters["errors"])},
                "graph": {"requests": self.graph_counters["requests"],
                          "accepted": self.graph_counters["accepted"],
                          "errors": dict(self.graph_counters["errors"])},
                "vault_proxy": dict(self.vault_counters),
                "concurrency_limit": self.concurrency_limit,
                "port_modes": {str(k): v for k, v in self.port_modes.items()},
                "faults": copy.deepcopy(self.faults),
            }
