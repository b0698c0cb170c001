# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The `standins` fixture: the lab's stand-ins, or (no lab up) a local set on 127.77.0.x.

The tests only use the `standins` fixture's attributes, so pointing them at the lab means
providing the same object from the lab's fixtures (lab addresses and names, the lab's
control socket) instead of this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
for _path in (str(REPO), str(Path(__file__).resolve().parent)):  # also under --import-mode=importlib
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.lab.pki import CA, exchange_online_leaf  # noqa: E402
from tests.lab.pki_bad import untrusted_client_cert  # noqa: E402
from tests.lab.standins.control import StandinControl  # noqa: E402
from tests.lab.standins.handle import App, Standins, lab_standins  # noqa: E402

SMTP_IP, ENTRA_IP, VAULT_IP, CONNECTOR_IP = "127.77.0.2", "127.77.0.3", "127.77.0.4", "127.77.0.5"
GRAPH_IP = "127.77.0.6"
ALLOWED_SOURCE, DENIED_SOURCE = "127.77.0.10", "127.77.0.11"
SEALED_VAULT = ("127.77.0.7", 8250)
TENANT_ID, TENANT_DOMAIN = "11111111-2222-3333-4444-555555555555", "contoso.com"


class _FakeVault(BaseHTTPRequestHandler):
    """Upstream for the fault proxy: answers like an unsealed, active OpenBao's health check."""

    def log_message(self, fmt, *args):
        return

    def do_GET(self):
        body = json.dumps({"initialized": True, "sealed": False, "standby": False,
                           "path": self.path, "upstream": "fake"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="session")
def standins(tmp_path_factory):
    """The lab's stand-ins when a lab is up (as under `make test`), else a local set."""
    on_lab = lab_standins(tmp_path_factory.mktemp("lab-standins"))
    if on_lab is not None:
        yield on_lab
        return
    yield from _local_standins(tmp_path_factory)


def _local_standins(tmp_path_factory):
    base = tmp_path_factory.mktemp("standins")
    ca = CA(base / "pki")
    smtp = exchange_online_leaf(ca, [SMTP_IP])
    connector = ca.issue("connector", ["contoso-com.mail.protection.outlook.com", CONNECTOR_IP])
    entra = ca.issue("entra", ["login.microsoftonline.com", ENTRA_IP])
    graph = ca.issue("graph", ["graph.microsoft.com", GRAPH_IP])
    client = ca.issue("relay-client", ["relay.contoso.com"], client=True)
    rogue_client = untrusted_client_cert(base / "pki")

    upstream = ThreadingHTTPServer((VAULT_IP, 8200), _FakeVault)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()

    app = App("6f1c2a9e-0000-4000-8000-00000000abcd", "lab-app-secret~1", TENANT_ID, TENANT_DOMAIN)
    cfg = {
        "control_socket": str(base / "standins.sock"),
        "store_dir": str(base / "store"),
        "ca": str(ca.cert_path), "ca_key": str(ca.key_path),
        "smtp": {"address": SMTP_IP, "ports": {"587": "starttls", "25": "starttls", "465": "drop"},
                 "cert": str(smtp.cert), "key": str(smtp.key), "hostname": "smtp.office365.com"},
        "connector": {"address": CONNECTOR_IP, "port": 25, "cert": str(connector.cert),
                      "key": str(connector.key),
                      "hostname": "contoso-com.mail.protection.outlook.com",
                      "allowed_sources": [ALLOWED_SOURCE]},
        "entra": {"address": ENTRA_IP, "port": 443, "cert": str(entra.cert),
                  "key": str(entra.key), "hostname": "login.microsoftonline.com"},
        "graph": {"address": GRAPH_IP, "port": 443, "cert": str(graph.cert), "key": str(graph.key),
                  "hostname": "graph.microsoft.com"},
        "vault_proxy": {"address": VAULT_IP, "port": 8300, "upstream": f"http://{VAULT_IP}:8200",
                        "upstream_timeout": 5},
        "tenants": {TENANT_DOMAIN: TENANT_ID},
        "mailboxes": {"svc-mailer@contoso.com": {"passwords": ["lab-password-1"]},
                      "svc-other@contoso.com": {"passwords": ["lab-password-2"]}},
        "apps": {app.client_id: {"tenant": TENANT_DOMAIN, "secrets": [app.secret],
                                 "mailboxes": ["svc-mailer@contoso.com"]}},
    }
    cfg_path = base / "standins.json"
    fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(cfg, fh)
    log = open(base / "standins.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "tests.lab.standins.server", "--config",
                             str(cfg_path)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    control = StandinControl(cfg["control_socket"])
    try:
        for _attempt in range(60):
            if proc.poll() is not None:
                raise RuntimeError("exited")
            try:
                control.wait_ready(timeout=0.5)
                break
            except Exception:
                continue
        else:
            raise RuntimeError("no answer")
    except Exception:
        proc.kill()
        proc.wait(timeout=5)
        raise RuntimeError("stand-ins did not start; log:\n"
                           + (base / "standins.log").read_text(errors="replace")[-3000:])
    yield Standins(
        smtp_host=SMTP_IP, smtp_addr=(SMTP_IP, 587), smtp_tls_addr=(SMTP_IP, 465),
        connector_addr=(CONNECTOR_IP, 25), entra_url=f"https://{ENTRA_IP}",
        vault_proxy_url=f"http://{VAULT_IP}:8300", ca=str(ca.cert_path), control=control,
        mailbox="svc-mailer@contoso.com", password="lab-password-1",
        other_mailbox="svc-other@contoso.com", other_password="lab-password-2", app=app,
        allowed_source=ALLOWED_SOURCE, denied_source=DENIED_SOURCE, client_cert=client,
        untrusted_client_cert=rogue_client, sealed_vault_addr=SEALED_VAULT,
        extras={"log": str(base / "standins.log"), "store_dir": cfg["store_dir"]},
        graph_url=f"https://{GRAPH_IP}",
    )
    try:
        control.shutdown()
        proc.wait(timeout=10)
    except Exception:
        proc.kill()
        proc.wait(timeout=5)
    finally:
        log.close()
        upstream.shutdown()
        upstream.server_close()


@pytest.fixture(autouse=True)
def fresh_standins(standins):
    """Every test starts from the configured state: no faults, no mail, zeroed counters."""
    standins.control.reset()
    yield standins
