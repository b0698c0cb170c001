# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names and addresses of one lab, derived from the path of its state directory.

Two checkouts (or a helper's lab beside the CI's) get different prefixes and
subnets, so one lab never tears down another. Everything a lab creates carries
its prefix, which is how teardown finds leftovers.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
SUBNETS = 512  # /24s in the /15
FIRST_HOST_OCTET = 10

# Fixed roles inside each lab's /24; the stand-ins get their own addresses so
# that per-service faults (firewall, latency) can be aimed at one of them.
ROLE_OCTETS = {
    "controller": 1,
    "smtp": 2,          # smtp.office365.com
    "entra": 3,         # login.microsoftonline.com
    "vault": 4,
    "connector": 5,     # <tenant>.mail.protection.outlook.com
    "graph": 6,         # graph.microsoft.com
}

TENANT_DOMAIN = "contoso.com"
CONNECTOR_HOST = "contoso-com.mail.protection.outlook.com"
VAULT_NAME = "vault.lab.test"
GRAPH_HOST = "graph.microsoft.com"


@dataclass(frozen=True)
class Identity:
    state_dir: Path
    prefix: str            # e.g. "mo3fa2"; 6 chars so link names stay under IFNAMSIZ
    subnet: ipaddress.IPv4Network

    @property
    def ctl_ns(self) -> str:
        return f"{self.prefix}-ctl"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    def host_ns(self, n: int) -> str:
        return f"{self.prefix}-h{n}"

    def host_veth(self, n: int) -> tuple[str, str]:
        """(inside the host namespace, on the bridge)."""
        return f"{self.prefix}h{n}", f"{self.prefix}b{n}"

    @property
    def ctl_veth(self) -> tuple[str, str]:
        return f"{self.prefix}c", f"{self.prefix}cb"

    def addr(self, role: str) -> str:
        return str(self.subnet.network_address + ROLE_OCTETS[role])

    def host_addr(self, n: int) -> str:
        if not 1 <= n <= 240:
            raise ValueError("a lab holds 1 to 240 hosts")
        return str(self.subnet.network_address + FIRST_HOST_OCTET + n - 1)


def identity_for(state_dir: Path) -> Identity:
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()
    index = int(digest[:8], 16) % SUBNETS
    subnet = ipaddress.ip_network((int(LAB_RANGE.network_address) + index * 256, 24))
    return Identity(state_dir=state_dir.resolve(), prefix="mo" + digest[8:12], subnet=subnet)
