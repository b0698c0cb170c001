# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run all stand-ins in one process: `python -m tests.lab.standins.server --config FILE`.

Optional `--fault TARGET:NAME[:key=value,...]` (repeatable) switches a fault on for the whole
run; `reset` over the control socket returns to the config plus these faults. Stops cleanly on
SIGTERM/SIGINT or the control op `shutdown`. The control socket accepts one JSON request per
connection: {"op": "...", "args": {...}} -> {"ok": true, "result": ...} | {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from tests.lab.standins import config as config_mod
from tests.lab.standins.entra import EntraServer
from tests.lab.standins.graph import GraphServer
from tests.lab.standins.listeners import SmtpListeners
from tests.lab.standins.state import State
from tests.lab.standins.tlsctx import Contexts
from tests.lab.standins.vaultproxy import VaultProxy

log = logging.getLogger("standins")
MAX_REQUEST = 1024 * 1024


def parse_fault(text: str) -> tuple[str, str, dict]:
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"--fault '{text}': write TARGET:NAME[:key=value,...]")
    params = {}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            key, _sep, value = item.partition("=")
            params[key] = value
    return parts[0], parts[1], params


class Standins:
    def __init__(self, cfg: dict, baseline_faults: list[tuple[str, str, dict]]):
        self.cfg = cfg
        self.baseline = baseline_faults
        self.state = State(cfg)
        self.contexts = Contexts(cfg)
        self.smtp = SmtpListeners(cfg, self.state, self.contexts)
        self.entra = EntraServer(cfg, self.state, self.contexts) if cfg.get("entra") else None
        self.graph = GraphServer(cfg, self.state, self.contexts) if cfg.get("graph") else None
        self.vault = VaultProxy(cfg, self.state) if cfg.get("vault_proxy") else None
        self.stopping = asyncio.Event()

    def _apply_baseline(self) -> None:
        for target, name, params in self.baseline:
            self.state.set_fault(name, target=target, **params)

    async def _sync_entra(self) -> None:
        """Open or close the HTTPS listeners (Entra, Graph) as their 'down' faults say."""
        for service in (self.entra, self.graph):
            if service is not None:
                await asyncio.get_running_loop().run_in_executor(None, service.sync)

    async def start(self) -> None:
        self._apply_baseline()
        await self.smtp.start()
        await self._sync_entra()
        if self.vault is not None:
            self.vault.start()

    async def stop(self) -> None:
        await self.smtp.close()
        loop = asyncio.get_running_loop()
        for service in (self.entra, self.graph):
            if service is not None:
                await loop.run_in_executor(None, service.down)
        if self.vault is not None:
            await loop.run_in_executor(None, self.vault.stop)

    # -- control operations ----------------------------------------------------------------
    async def op_reset(self):
        self.state.reset()
        self._apply_baseline()
        await self.smtp.reset_modes()
        await self._sync_entra()

    async def op_set_fault(self, name, target="smtp", **params):
        self.state.set_fault(name, target=target, **params)
        if target in ("entra", "graph"):
            await self._sync_entra()

    async def op_clear_faults(self, target=None):
        self.state.clear_faults(target)
        await self._sync_entra()

    async def op_set_port_mode(self, port, mode):
        await self.smtp.set_mode(int(port), mode)

    async def op_shutdown(self):
        self.stopping.set()

    def operations(self) -> dict:
        s = self.state
        return {
            "ping": lambda: "pong",
            "reset": self.op_reset,
            "set_fault": self.op_set_fault,
            "clear_faults": self.op_clear_faults,
            "set_port_mode": self.op_set_port_mode,
            "set_mailbox": s.set_mailbox,
            "add_password": s.add_password,
            "revoke_password": s.revoke_password,
            "set_concurrency_limit": s.set_concurrency_limit,
            "set_clock": s.set_clock,
            "set_idle_timeout": s.set_idle_timeout,
            "issued_tokens": s.issued_tokens,
            "messages": s.snapshot_messages,
            "clear_messages": s.clear_messages,
            "counters": s.counters,
            "set_app": s.set_app,
            "remove_app": s.remove_app,
            "expire_secret": s.expire_secret,
            "expire_tokens": s.expire_tokens,
            "set_token_lifetime": s.set_token_lifetime,
            "add_vault_fault": s.add_vault_fault,
            "clear_vault_faults": s.clear_vault_faults,
            "shutdown": self.op_shutdown,
        }

    async def handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            request = json.loads(line[:MAX_REQUEST] or b"{}")
            op = self.operations().get(request.get("op"))
            if op is None:
                raise ValueError(f"unknown op '{request.get('op')}'; known: "
                                 f"{', '.join(sorted(self.operations()))}")
            result = op(**(request.get("args") or {}))
            if asyncio.iscoroutine(result):
                result = await result
            answer = {"ok": True, "result": result}
        except (ValueError, TypeError, KeyError) as exc:
            # Messages name fields and ops, never the values sent, so no secret leaks back.
            answer = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
        except asyncio.TimeoutError:
            answer = {"ok": False, "error": "no request line within 10 s"}
        try:
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()


async def serve(cfg: dict, baseline: list) -> None:
    standins = Standins(cfg, baseline)
    sock_path = Path(cfg["control_socket"])
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    if sock_path.exists():
        sock_path.unlink()
    await standins.start()
    control = await asyncio.start_unix_server(standins.handle_control, path=str(sock_path))
    os.chmod(sock_path, 0o600)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, standins.stopping.set)
    log.info("stand-ins ready; control socket %s", sock_path)
    try:
        await standins.stopping.wait()
    finally:
        control.close()
        await standins.stop()
        if sock_path.exists():
            sock_path.unlink()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.standins.server",
                                     description="Microsoft 365 / Entra / Vault-fault stand-ins")
    parser.add_argument("--config", required=True, help="the standins.json the lab wrote")
    parser.add_argument("--fault", action="append", default=[], type=parse_fault,
                        metavar="TARGET:NAME[:k=v,...]", help="fault switched on for the run")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # aiosmtpd logs every command line at INFO, AUTH payloads included.
    mail_log = logging.getLogger("mail.log")
    mail_log.setLevel(logging.WARNING)
    # aiosmtpd 1.4 warns about its own use of a deprecated attribute on every AUTH.
    mail_log.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    os.umask(0o077)
    asyncio.run(serve(cfg, args.fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
