# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client for the stand-ins' control socket, for fixtures and for the command line.

    python -m tests.lab.standins.control --socket .lab/standins.sock set_fault '{"name": "tarpit"}'
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time


class ControlError(RuntimeError):
    pass


class StandinControl:
    def __init__(self, socket_path: str, timeout: float = 15.0):
        self.socket_path = str(socket_path)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"StandinControl({self.socket_path!r})"

    def call(self, op: str, **args):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            chunks = []
            for _read in range(100000):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        if not chunks:
            raise ControlError(f"stand-ins closed the control socket without answering '{op}'")
        answer = json.loads(b"".join(chunks))
        if not answer.get("ok"):
            raise ControlError(f"stand-ins refused '{op}': {answer.get('error')}")
        return answer.get("result")

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("ping")
                return
            except (OSError, ControlError, ValueError):
                if time.monotonic() > deadline:
                    raise ControlError(f"stand-ins did not answer on {self.socket_path} within "
                                       f"{timeout:.0f} s; see their log") from None
                time.sleep(0.1)

    # -- whole state -------------------------------------------------------------------------
    def reset(self):
        return self.call("reset")

    def shutdown(self):
        return self.call("shutdown")

    # -- faults ------------------------------------------------------------------------------
    def set_fault(self, name: str, target: str = "smtp", **params):
        """SMTP/connector: tarpit, banner_421, throttle(stage=banner|mail|rcpt),
        reset_after_starttls, legacy_tls, bad_cert(kind=expired|wrong_name|untrusted),
        starttls_stripped, starttls_masked, concurrency_at_auth (the 4th AUTH gets 432). Entra (target="entra"): down, 500, invalid_json,
        bad_cert(kind=...). Graph (target="graph"): down, bad_cert(kind=...)."""
        return self.call("set_fault", name=name, target=target, **params)

    def clear_faults(self, target: str | None = None):
        return self.call("clear_faults", target=target)

    def set_entra_fault(self, mode: str, **params):
        return self.set_fault(mode, target="entra", **params)

    def set_port_mode(self, port: int, mode: str):
        """mode: starttls, tls (implicit), drop (SYN unanswered: timeout), closed (refused)."""
        return self.call("set_port_mode", port=int(port), mode=mode)

    # -- mailboxes ---------------------------------------------------------------------------
    def set_mailbox(self, address: str, **changes):
        """changes: passwords=[...], smtp_auth_disabled=bool, basic_auth_retired=bool, send_as=[...],
        messages_per_minute=int (30 unless set; later messages are accepted and delivered in the
        following minutes), recipients_per_day=int (10,000 unless set; beyond it 554 5.2.0)"""
        return self.call("set_mailbox", address=address, **changes)

    def add_password(self, address: str, password: str):
        return self.call("add_password", address=address, password=password)

    def revoke_password(self, address: str, password: str):
        return self.call("revoke_password", address=address, password=password)

    def set_concurrency_limit(self, limit: int | None):
        """Connections of one mailbox sending at once (3); None switches the limit off."""
        return self.call("set_concurrency_limit", limit=limit)

    def set_idle_timeout(self, seconds: float):
        """Idle seconds before a session gets 421 4.4.1 (300, as Exchange Online); new sessions."""
        return self.call("set_idle_timeout", seconds=seconds)

    def set_clock(self, minute_seconds: float):
        """Seconds in one minute of the rate limits (60); a day is 1440 of them."""
        return self.call("set_clock", minute_seconds=minute_seconds)

    # -- inspection --------------------------------------------------------------------------
    def messages(self) -> list:
        return self.call("messages")

    def clear_messages(self):
        return self.call("clear_messages")

    def counters(self) -> dict:
        return self.call("counters")

    def mailbox_counters(self, address: str) -> dict:
        return self.counters()["mailboxes"].get(address.lower(), {})

    # -- Entra -------------------------------------------------------------------------------
    def set_app(self, client_id: str, *, tenant: str, secrets=(), expired_secrets=(),
                mailboxes=(), send_as_app: bool = True, mail_send: bool = True):
        """send_as_app: Exchange's SMTP.SendAsApp; mail_send: Graph's Mail.Send (both application
        permissions, in the `roles` of the token for each resource)."""
        return self.call("set_app", client_id=client_id, tenant=tenant, secrets=list(secrets),
                         expired_secrets=list(expired_secrets), mailboxes=list(mailboxes),
                         send_as_app=send_as_app, mail_send=mail_send)

    def remove_app(self, client_id: str):
        return self.call("remove_app", client_id=client_id)

    def expire_secret(self, client_id: str, secret: str):
        return self.call("expire_secret", client_id=client_id, secret=secret)

    def issued_tokens(self, client_id: str | None = None) -> list:
        """[{token, client_id, issued_at}] of every token Entra issued since the last reset:
        the leak scans look for each of them."""
        return self.call("issued_tokens", client_id=client_id)

    def expire_tokens(self):
        return self.call("expire_tokens")

    def set_token_lifetime(self, seconds: int):
        return self.call("set_token_lifetime", seconds=seconds)

    # -- Vault proxy -------------------------------------------------------------------------
    def add_vault_fault(self, *, status: int | None = None, delay: float | None = None,
                        times: int | None = 1, path_prefix: str = ""):
        return self.call("add_vault_fault", status=status, delay=delay, times=times,
                         path_prefix=path_prefix)

    def clear_vault_faults(self):
        return self.call("clear_vault_faults")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.standins.control")
    parser.add_argument("--socket", required=True)
    parser.add_argument("op")
    parser.add_argument("args", nargs="?", default="{}", help="JSON object of arguments")
    ns = parser.parse_args(argv)
    try:
        result = StandinControl(ns.socket).call(ns.op, **json.loads(ns.args))
    except (ControlError, OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
