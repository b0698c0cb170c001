# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Open, close and re-mode the SMTP stand-in's ports and the connector listener on the loop."""

from __future__ import annotations

import asyncio

from tests.lab.standins.config import PORT_MODES
from tests.lab.standins.drop import Blackhole
from tests.lab.standins.smtp import Handler, StandinSMTP


class SmtpListeners:
    def __init__(self, config: dict, state, contexts):
        self.config = config
        self.state = state
        self.contexts = contexts
        self.handler = Handler(state)
        self._open: dict[tuple[str, int], object] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        for port, mode in self.state.port_modes.items():
            await self.set_mode(port, mode)
        con = self.config.get("connector")
        if con:
            await self._open_smtp("connector", con["address"], con["port"], con["server_name"],
                                  implicit_tls=False, allowed=con["allowed_sources"])

    async def set_mode(self, port: int, mode: str) -> None:
        port = int(port)
        if mode not in PORT_MODES:
            raise ValueError(f"port mode '{mode}' is not one of {', '.join(PORT_MODES)}")
        smtp = self.config["smtp"]
        async with self._lock:
            await self._close(("smtp", port))
            if mode in ("starttls", "tls"):
                await self._open_smtp("smtp", smtp["address"], port, smtp["server_name"],
                                      implicit_tls=(mode == "tls"))
            elif mode == "drop":
                self._open[("smtp", port)] = await asyncio.get_running_loop().run_in_executor(
                    None, Blackhole, smtp["address"], port)
            with self.state.lock:
                self.state.port_modes[port] = mode

    async def _open_smtp(self, role: str, address: str, port: int, server_name: str, *,
                         implicit_tls: bool, allowed=()) -> None:
        loop = asyncio.get_running_loop()
        ssl_ctx = None
        if implicit_tls:
            def choose():
                bad = self.state.fault(role, "bad_cert")
                return bad["kind"] if bad else None
            ssl_ctx = self.contexts.switching(role, choose)

        def factory():
            return StandinSMTP(self.handler, role=role, port=port, server_name=server_name,
                               state=self.state, contexts=self.contexts,
                               implicit_tls=implicit_tls, allowed_sources=allowed,
                               idle_timeout=self.state.idle_timeout, loop=loop)

        extra = {"ssl": ssl_ctx, "ssl_handshake_timeout": 10} if ssl_ctx else {}
        server = await loop.create_server(factory, host=address, port=port,
                                          reuse_address=True, **extra)
        self._open[(role, port)] = server

    async def _close(self, key) -> None:
        current = self._open.pop(key, None)
        if current is None:
            return
        if isinstance(current, Blackhole):
            current.close()
        else:
            # Stop listening only: sessions already open finish on their own, as on a real
            # server whose port is reconfigured.
            current.close()

    async def reset_modes(self) -> None:
        for port, mode in self.config["smtp"]["ports"].items():
            await self.set_mode(port, mode)

    async def close(self) -> None:
        for key in list(self._open):
            await self._close(key)
