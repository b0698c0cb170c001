# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a test sees of the stand-ins: addresses, credentials, the control client."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .control import StandinControl


@dataclass
class App:
    client_id: str
    secret: str
    tenant_id: str
    tenant_domain: str


@dataclass
class Standins:
    smtp_host: str                # what a client connects to and checks the certificate for
    smtp_addr: tuple              # (host, 587)
    smtp_tls_addr: tuple          # (host, 465)
    connector_addr: tuple         # (host, 25)
    entra_url: str                # https://host[:port], the authority root
    vault_proxy_url: str          # http://host:port, proxying to a working Vault
    ca: str                       # lab CA bundle clients trust
    control: StandinControl
    mailbox: str
    password: str
    other_mailbox: str            # a second mailbox, with its own password
    other_password: str
    app: App
    allowed_source: str           # a local address the connector relays for
    denied_source: str            # a local address it does not
    client_cert: object           # client certificate from the lab CA (tests.lab.pki.Issued)
    untrusted_client_cert: object
    sealed_vault_addr: tuple      # where a sealed throwaway OpenBao may listen
    extras: dict = field(default_factory=dict)
    graph_url: str = ""           # https://host[:port], Microsoft Graph's root (sendMail)


def lab_standins(scratch: Path) -> Standins | None:
    """The stand-ins of the lab that is up, or None when no lab runs them."""
    from ..pki import Issued
    from ..pki_bad import untrusted_client_cert
    from ..core import REPO
    state_dir = Path(os.environ.get("MAILOPS_LAB_STATE", REPO / ".lab"))
    try:
        state = json.loads((state_dir / "lab.json").read_text())
    except FileNotFoundError:
        return None
    info = state.get("standins")
    if not info:
        return None
    from ..fixtures import require_controller_namespace
    require_controller_namespace(state)
    cfg = json.loads(Path(info["config"]).read_text())
    a = state["addresses"]
    app_id, app = next(iter(cfg["apps"].items()))
    return Standins(
        smtp_host="smtp.office365.com", smtp_addr=("smtp.office365.com", 587),
        smtp_tls_addr=("smtp.office365.com", 465), connector_addr=(state["connector_host"], 25),
        entra_url="https://login.microsoftonline.com", vault_proxy_url=f"http://{a['vault']}:8300",
        ca=state["pki"]["ca"], control=StandinControl(info["control_socket"]),
        mailbox=info["mailbox"], password=cfg["mailboxes"][info["mailbox"]]["passwords"][0],
        other_mailbox=info["other_mailbox"],
        other_password=cfg["mailboxes"][info["other_mailbox"]]["passwords"][0],
        app=App(app_id, app["secrets"][0], info["tenant_id"], info["tenant_domain"]),
        allowed_source=a["controller"], denied_source=a["entra"],
        client_cert=Issued(Path(state["pki"]["client"]["cert"]), Path(state["pki"]["client"]["key"])),
        untrusted_client_cert=untrusted_client_cert(scratch),
        sealed_vault_addr=(a["vault"], 8250),
        extras={"log": info["log"], "store_dir": info["store_dir"]},
        graph_url="https://graph.microsoft.com" if cfg.get("graph") else "",
    )
