# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and normalise the stand-ins' one JSON config file (shape: see the package docstring)."""

from __future__ import annotations

import json
from pathlib import Path

PORT_MODES = ("starttls", "tls", "drop", "closed")
TLS_MAX = ("1.2", "1.3")
OUTLOOK_SCOPE = "https://outlook.office365.com/.default"


class ConfigError(ValueError):
    pass


def _require(section: dict, key: str, where: str):
    if key not in section:
        raise ConfigError(f"standins config: '{where}.{key}' is missing; add it to the JSON file")
    return section[key]


def normalise(raw: dict) -> dict:
    cfg = dict(raw)
    _require(cfg, "control_socket", "")
    _require(cfg, "store_dir", "")
    _require(cfg, "ca", "")

    smtp = dict(_require(cfg, "smtp", ""))
    _require(smtp, "address", "smtp")
    ports = {}
    for port, mode in _require(smtp, "ports", "smtp").items():
        if mode not in PORT_MODES:
            raise ConfigError(f"standins config: smtp port {port} mode '{mode}' is not one of "
                              f"{', '.join(PORT_MODES)}")
        ports[int(port)] = mode
    smtp["ports"] = ports
    smtp.setdefault("hostname", "smtp.office365.com")
    smtp.setdefault("server_name", "LAB0PR00CA0001.outlook.office365.com")
    smtp.setdefault("concurrency_limit", 3)
    # One minute of the rate limits, in seconds: tests of pacing scale the clock down.
    smtp.setdefault("minute_seconds", 60)
    # Exchange Online ends an idle session after about 5 minutes with 421 4.4.1.
    smtp.setdefault("idle_timeout", 300)
    # Public transcripts show TLS 1.2 (ECDHE-RSA); "1.3" lets a lab offer TLS 1.3 too.
    smtp.setdefault("tls_max", "1.2")
    if smtp["tls_max"] not in TLS_MAX:
        raise ConfigError(f"standins config: smtp.tls_max '{smtp['tls_max']}' is not one of "
                          f"{', '.join(TLS_MAX)}")
    cfg["smtp"] = smtp

    if cfg.get("connector"):
        con = dict(cfg["connector"])
        _require(con, "address", "connector")
        con.setdefault("port", 25)
        con.setdefault("allowed_sources", [])
        con.setdefault("hostname", "contoso-com.mail.protection.outlook.com")
        con.setdefault("server_name", "LAB0EUR00FT001.mail.protection.outlook.com")
        cfg["connector"] = con
    if cfg.get("entra"):
        entra = dict(cfg["entra"])
        _require(entra, "address", "entra")
        entra.setdefault("port", 443)
        entra.setdefault("hostname", "login.microsoftonline.com")
        entra.setdefault("token_lifetime", 3599)
        cfg["entra"] = entra
    if cfg.get("graph"):
        graph = dict(cfg["graph"])
        _require(graph, "address", "graph")
        graph.setdefault("port", 443)
        graph.setdefault("hostname", "graph.microsoft.com")
        cfg["graph"] = graph
    if cfg.get("vault_proxy"):
        vp = dict(cfg["vault_proxy"])
        _require(vp, "address", "vault_proxy")
        _require(vp, "port", "vault_proxy")
        _require(vp, "upstream", "vault_proxy")
        vp.setdefault("upstream_timeout", 30)
        cfg["vault_proxy"] = vp

    cfg["tenants"] = {k.lower(): v.lower() for k, v in cfg.get("tenants", {}).items()}
    mailboxes = {}
    for addr, spec in cfg.get("mailboxes", {}).items():
        mailboxes[addr.lower()] = {
            "passwords": list(spec.get("passwords", [])),
            "smtp_auth_disabled": bool(spec.get("smtp_auth_disabled", False)),
            "basic_auth_retired": bool(spec.get("basic_auth_retired", False)),
            "send_as": [a.lower() for a in spec.get("send_as", [])],
        }
        for limit in ("messages_per_minute", "recipients_per_day"):
            if limit in spec:
                mailboxes[addr.lower()][limit] = int(spec[limit])
    cfg["mailboxes"] = mailboxes
    apps = {}
    for client_id, spec in cfg.get("apps", {}).items():
        apps[client_id.lower()] = normalise_app(spec)
    cfg["apps"] = apps
    return cfg


def normalise_app(spec: dict) -> dict:
    return {
        "tenant": str(spec.get("tenant", "")).lower(),
        "secrets": list(spec.get("secrets", [])),
        "expired_secrets": list(spec.get("expired_secrets", [])),
        "mailboxes": [m.lower() for m in spec.get("mailboxes", [])],
        "send_as_app": bool(spec.get("send_as_app", True)),
        # Microsoft Graph's Mail.Send application permission (GitLab's Graph mailer needs it).
        "mail_send": bool(spec.get("mail_send", True)),
    }


def load(path) -> dict:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"standins config {path}: cannot read it ({exc.__class__.__name__}); "
                          "check the path the lab wrote") from None
    return normalise(raw)
