# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-ins' run-time state: mailboxes, apps, tokens, faults, counters and received mail.

The SMTP side runs on the asyncio loop and Entra and the Vault proxy on threads, so every
access goes through one lock. Nothing here ever returns a password, secret or token.
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
from tests.lab.standins.config import OUTLOOK_SCOPE, normalise_app

SMTP_FAULTS = {
    "tarpit": {"seconds"},
    "banner_421": set(),
    "throttle": {"stage"},
    "reset_after_starttls": set(),
    "legacy_tls": set(),
    "bad_cert": {"kind"},
    "starttls_stripped": set(),
    "starttls_masked": set(),
}
ENTRA_FAULTS = {"down": set(), "500": set(), "invalid_json": set(), "bad_cert": {"kind"}}
FAULTS = {"smtp": SMTP_FAULTS, "connector": SMTP_FAULTS, "entra": ENTRA_FAULTS}
THROTTLE_STAGES = ("banner", "mail", "rcpt")
# Microsoft 365 accepts 30 messages a minute per mailbox (m365-facts.md); set_mailbox can lower it.
MESSAGES_PER_MINUTE = 30
BAD_CERT_KINDS = ("expired", "wrong_name", "untrusted")
MAX_MESSAGES = 5000


def _mailbox_counters() -> dict:
    # connections: authenticated sessions opened so far; current: those still open now.
    return {"auth_ok": 0, "auth_fail": 0, "auth_rejected_concurrency": 0, "connections": 0,
            "current": 0, "peak_concurrent": 0, "messages": 0, "messages_refused_quota": 0}


class State:
    def __init__(self, config: dict):
        self.config = config
        self.lock = threading.RLock()
        self.store = Path(config["store_dir"]) / "messages"
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
            self.port_modes = dict(cfg["smtp"]["ports"])
            self.token_lifetime = (cfg.get("entra") or {}).get("token_lifetime", 3599)
            self.sessions: dict[str, set] = defaultdict(set)
            self.mbx_counters: dict[str, dict] = defaultdict(_mailbox_counters)
            self.port_connections: dict[str, int] = defaultdict(int)
            self.entra_counters = {"requests": 0, "tokens_issued": 0, "errors": defaultdict(int)}
            self.vault_rules: list[dict] = []
            self.vault_counters = {"requests": 0, "faulted": 0, "delayed": 0, "passed": 0,
                                   "upstream_errors": 0}
            self.messages: list[dict] = []
            # Per mailbox, when each accepted message came in (the last minute's matter).
            self.sent_at: dict[str, list[float]] = defaultdict(list)
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
        allowed = {"passwords", "smtp_auth_disabled", "basic_auth_retired", "send_as", "messages_per_minute"}
        extra = set(changes) - allowed
        if extra:
            raise ValueError(f"set_mailbox takes only {', '.join(sorted(allowed))}")
        with self.lock:
            box = self.mailboxes.setdefault(address, {"passwords": [], "smtp_auth_disabled": False,
                                                      "basic_auth_retired": False, "send_as": []})
            for key, value in changes.items():
                if key == "send_as":
                    value = [a.lower() for a in value]
                if key == "messages_per_minute":
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        raise ValueError("messages_per_minute must be a whole number of at least 1")
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
            return reply.format(host=host)

    def auth_token(self, mailbox: str, token: str, host: str) -> str | None:
        mailbox = mailbox.lower()
        with self.lock:
            grant = self.tokens.get(token)
            app = self.apps.get(grant["client_id"]) if grant else None
            box = self.mailboxes.get(mailbox)
            ok = (grant is not None and app is not None and box is not None
                  and grant["expires_at"] > time.time()
                  and grant["scope"] == OUTLOOK_SCOPE
                  and app["send_as_app"] and mailbox in app["mailboxes"])
            if ok and not box["smtp_auth_disabled"]:
                return None
            self.mbx_counters[mailbox]["auth_fail"] += 1
            return (replies.AUTH_SMTP_DISABLED if ok else replies.AUTH_BAD).format(host=host)

    def open_session(self, mailbox: str, session_id: int) -> bool:
        """Count an authenticated session; False when it would exceed the concurrency limit."""
        mailbox = mailbox.lower()
        with self.lock:
            live = self.sessions[mailbox]
            counters = self.mbx_counters[mailbox]
            if self.concurrency_limit is not None and len(live) >= self.concurrency_limit:
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

    def take_message_slot(self, mailbox: str) -> bool:
        """Whether the mailbox may submit one more message now (and count it if so).

        Microsoft 365 refuses a mailbox's 31st message within a minute; the stand-in keeps the
        time of every accepted message and refuses one that would make more than the limit in
        the last 60 s.
        """
        mailbox = mailbox.lower()
        now = time.monotonic()
        with self.lock:
            limit = self.mailboxes.get(mailbox, {}).get("messages_per_minute", MESSAGES_PER_MINUTE)
            recent = [t for t in self.sent_at[mailbox] if now - t < 60.0]
            if len(recent) >= limit:
                self.sent_at[mailbox] = recent
                self.mbx_counters[mailbox]["messages_refused_quota"] += 1
                return False
            recent.append(now)
            self.sent_at[mailbox] = recent
            return True

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
        with self.lock:
            for grant in self.tokens.values():
                grant["expires_at"] = 0

    def issue_token(self, client_id: str, scope: str) -> tuple[str, int]:
        token = secrets.token_urlsafe(48)
        with self.lock:
            lifetime = self.token_lifetime
            self.tokens[token] = {"client_id": client_id.lower(), "scope": scope,
                                  "expires_at": time.time() + lifetime}
            self.entra_counters["tokens_issued"] += 1
        return token, lifetime

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
                "vault_proxy": dict(self.vault_counters),
                "concurrency_limit": self.concurrency_limit,
                "port_modes": {str(k): v for k, v in self.port_modes.items()},
                "faults": copy.deepcopy(self.faults),
            }
