# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The 'drop' port mode: a port whose SYNs get no answer, so clients see a connect TIMEOUT.

A closed port answers RST (connection refused), which is not what Microsoft 365's 465 does.
`Blackhole` needs no firewall: it listens with a backlog of 0 and fills that one accept slot
with its own connection, never accepting. Linux then drops every further SYN unanswered
(the listen-queue-overflow path), exactly like a silent firewall drop. Closing it frees the
port, so a run-time switch to another mode takes effect at once.

`drop_rules(config)` is the firewall alternative for labs that prefer nftables: argv lists
that drop SYNs to every port configured as 'drop', in the namespace where they are run. They
are optional with `Blackhole`; if applied, remove them (`drop_rules_delete()`) before switching
such a port to another mode at run time, or the firewall keeps dropping it.
"""

from __future__ import annotations

import socket

NFT_TABLE = "mailops_standins"


class Blackhole:
    def __init__(self, host: str, port: int):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(0)
        self._filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._filler.settimeout(2)
        self._filler.connect((host, port))

    def close(self) -> None:
        for sock in (self._filler, self._listener):
            try:
                sock.close()
            except OSError:
                pass


def drop_rules(config: dict) -> list[list[str]]:
    """nft argv lists that silently drop the 'drop'-mode SMTP ports of `config`."""
    smtp = config["smtp"]
    ports = sorted(int(p) for p, mode in smtp["ports"].items() if mode == "drop")
    rules = [["nft", "add", "table", "inet", NFT_TABLE],
             ["nft", "add", "chain", "inet", NFT_TABLE, "input",
              "{ type filter hook input priority 0 ; policy accept ; }"]]
    for port in ports:
        rules.append(["nft", "add", "rule", "inet", NFT_TABLE, "input", "ip", "daddr",
                      smtp["address"], "tcp", "dport", str(port), "drop"])
    return rules


def drop_rules_delete() -> list[list[str]]:
    return [["nft", "delete", "table", "inet", NFT_TABLE]]
