# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put the stand-in mailbox's credential into the lab's OpenBao, as an operator would.

Writes KV v2 `secret/smtp/o365-mailer` (basic) and `secret/smtp/o365-app` (OAuth
client credentials), and `.lab/vars.yml`: the mailops_smtp_* settings that point
the roles at the lab's OpenBao (token in .lab/vault-token only), CA and
stand-ins. Runs inside the controller namespace.
"""

from __future__ import annotations

import json
from pathlib import Path

BASIC_PATH = "smtp/o365-mailer"
OAUTH_PATH = "smtp/o365-app"


def seed(state: dict) -> Path:
    import hvac
    d = Path(state["state_dir"])
    cfg = json.loads(Path(state["standins"]["config"]).read_text())
    info = state["standins"]
    client = hvac.Client(url=state["vault"]["http"], token=Path(state["vault"]["token_file"]).read_text().strip(),
                         timeout=10)
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path=BASIC_PATH, mount_point="secret", secret={
        "username": info["mailbox"], "password": cfg["mailboxes"][info["mailbox"]]["passwords"][0]})
    app = cfg["apps"][info["client_id"]]
    kv.create_or_update_secret(path=OAUTH_PATH, mount_point="secret", secret={
        "username": info["mailbox"], "tenant_id": info["tenant_id"], "client_id": info["client_id"],
        "client_secret": app["secrets"][0]})
    vars_file = d / "vars.yml"
    vars_file.write_text(json.dumps({
        "mailops_smtp_ca_path": state["pki"]["ca"],
        "mailops_smtp_vault": {
            "url": state["vault"]["https"], "ca_path": state["pki"]["ca"],
            "mount": "secret", "path": BASIC_PATH,
            "auth": {"method": "token", "token_file": state["vault"]["token_file"]},
        },
        "mailops_smtp_vault_oauth": {
            "url": state["vault"]["https"], "ca_path": state["pki"]["ca"],
            "mount": "secret", "path": OAUTH_PATH, "oauth_ca_path": state["pki"]["ca"],
            "oauth_authority": "https://login.microsoftonline.com",
            "auth": {"method": "token", "token_file": state["vault"]["token_file"]},
        },
    }, indent=2) + "\n")
    return vars_file
