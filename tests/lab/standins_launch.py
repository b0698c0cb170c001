# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start the Microsoft 365 and Entra stand-ins inside the controller namespace.

The stand-ins' config holds the lab mailboxes' passwords and the app's client
secret, made fresh per lab; it is written 0600 and never printed.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

from .naming import CONNECTOR_HOST, GRAPH_HOST, TENANT_DOMAIN
from .sysutil import LabError

TENANT_ID = "11111111-2222-3333-4444-555555555555"
MAILBOX = "svc-mailer@contoso.com"
OTHER_MAILBOX = "svc-other@contoso.com"
CLIENT_ID = "6f1c2a9e-0000-4000-8000-00000000abcd"


def start_standins(lab, state: dict) -> dict:
    a, pki = state["addresses"], state["pki"]
    d = lab.dir
    hosts = state["hosts"]
    cfg = {
        "control_socket": str(d / "standins.sock"),
        "store_dir": str(d / "standins"),
        "ca": pki["ca"], "ca_key": pki["ca_key"],
        "smtp": {"address": a["smtp"], "ports": {"587": "starttls", "25": "starttls", "465": "drop"},
                 "cert": pki["smtp"]["cert"], "key": pki["smtp"]["key"],
                 "hostname": "smtp.office365.com"},
        # The controller address and host2 may relay through the connector
        # without a certificate; every other host needs the lab client certificate.
        "connector": {"address": a["connector"], "port": 25, "cert": pki["connector"]["cert"],
                      "key": pki["connector"]["key"], "hostname": CONNECTOR_HOST,
                      "allowed_sources": [a["controller"]] + [h["ip"] for h in hosts[1:2]]},
        "entra": {"address": a["entra"], "port": 443, "cert": pki["entra"]["cert"],
                  "key": pki["entra"]["key"], "hostname": "login.microsoftonline.com"},
        # Microsoft Graph's sendMail, for GitLab's Graph mailer.
        "graph": {"address": a["graph"], "port": 443, "cert": pki["graph"]["cert"],
                  "key": pki["graph"]["key"], "hostname": GRAPH_HOST},
        "vault_proxy": {"address": a["vault"], "port": 8300, "upstream": state["vault"]["http"],
                        "upstream_timeout": 30},
        "tenants": {TENANT_DOMAIN: TENANT_ID},
        "mailboxes": {MAILBOX: {"passwords": [_secret()]}, OTHER_MAILBOX: {"passwords": [_secret()]}},
        "apps": {CLIENT_ID: {"tenant": TENANT_DOMAIN, "secrets": [_secret()], "mailboxes": [MAILBOX]}},
    }
    path = d / "standins.json"
    from .core import _write
    _write(path, json.dumps(cfg, indent=2) + "\n", 0o600)
    log = open(d / "standins.log", "wb")
    subprocess.Popen([str(d / "ctl-exec"), sys.executable, "-m", "tests.lab.standins.server",
                      "--config", str(path)], cwd=str(state["repo"]), stdin=subprocess.DEVNULL,
                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    from .standins.control import StandinControl
    try:
        StandinControl(cfg["control_socket"]).wait_ready(timeout=20)
    except Exception as exc:  # the log says why; it never holds a secret
        tail = (d / "standins.log").read_text(errors="replace")[-2000:]
        raise LabError(f"the stand-ins did not start ({exc}): {tail}") from None
    return {"config": str(path), "control_socket": cfg["control_socket"], "tenant_id": TENANT_ID,
            "tenant_domain": TENANT_DOMAIN, "mailbox": MAILBOX, "other_mailbox": OTHER_MAILBOX,
            "client_id": CLIENT_ID, "store_dir": cfg["store_dir"], "log": str(d / "standins.log")}


def _secret() -> str:
    # Characters that need quoting in most config formats, so every lab run
    # exercises escaping, plus randomness so nothing can be hard-coded.
    return "Lab#" + secrets.token_urlsafe(12) + "$;'\"x"
