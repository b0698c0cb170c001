# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway, sealed OpenBao server, so the sealed case never disturbs the lab's shared one.

`start_sealed_vault(address, port)` runs `bao server` (not dev mode) with raft storage in a
temporary directory (OpenBao 2 has no "file" backend), initialises it with one key share and
throws the key away: the server stays sealed for good and answers 503 "Vault is sealed".
`stop_sealed_vault(proc)` ends it and removes its directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BAO = "/work/main/.venv/bin/bao"


def _request(method: str, url: str, payload: dict | None = None, timeout: float = 3.0):
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def start_sealed_vault(address: str = "127.0.0.1", port: int = 8250, *, bao: str = BAO,
                       initialize: bool = True, timeout: float = 30.0):
    """Start the sealed server; returns (process, "http://address:port")."""
    workdir = Path(tempfile.mkdtemp(prefix="sealed-bao-"))
    (workdir / "data").mkdir()
    addr = f"http://{address}:{port}"
    (workdir / "config.hcl").write_text(
        f'storage "raft" {{\n  path = "{workdir / "data"}"\n  node_id = "sealed"\n'
        f'  performance_multiplier = 1\n}}\n'
        f'listener "tcp" {{\n  address = "{address}:{port}"\n'
        f'  cluster_address = "{address}:{port + 1}"\n  tls_disable = true\n}}\n'
        f'api_addr = "{addr}"\ncluster_addr = "https://{address}:{port + 1}"\nui = false\n')
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
    log = open(workdir / "server.log", "wb")
    proc = subprocess.Popen([bao, "server", f"-config={workdir / 'config.hcl'}"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=workdir)
    log.close()
    proc.workdir = workdir
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
            stop_sealed_vault(proc)
            raise RuntimeError(f"bao server exited ({proc.returncode}); its log ends:\n{tail}")
        try:
            status = _request("GET", f"{addr}/v1/sys/seal-status")
            break
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                stop_sealed_vault(proc)
                raise RuntimeError(f"bao server on {addr} did not answer within {timeout:.0f} s")
            time.sleep(0.2)
    if initialize and not status.get("initialized"):
        # The unseal key and root token are dropped here on purpose: nobody can unseal it.
        _request("PUT", f"{addr}/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1},
                 timeout=15)
    return proc, addr


def stop_sealed_vault(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    workdir = getattr(proc, "workdir", None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
