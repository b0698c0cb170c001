# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted Vault stand-in on 127.0.0.x for the connection tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.unit._https import ScriptedJSONServer  # noqa: E402

DEFAULT_SECRET = (200, {"data": {"data": {"username": "u@x.test", "password": "pw-from-stub"},
                                 "metadata": {"version": 4, "created_time": "2026-01-01T00:00:00Z"}}})


def _vault_request(handler, body):
    return {"line": handler.requestline, "path": handler.path, "body": body,
            "token": handler.headers.get("X-Vault-Token"), "namespace": handler.headers.get("X-Vault-Namespace")}


class ScriptedServer(ScriptedJSONServer):
    """A Vault stub: answers from a queue of (status, json body[, delay]), then a KV v2 secret. Records requests."""

    def __init__(self, tmp_path=None, tls=False):
        super().__init__(_vault_request, DEFAULT_SECRET, tls_dir=tmp_path if tls else None, cert_name="stub-vault")


@pytest.fixture
def make_server():
    """Start extra scripted servers (e.g. a proxy); each is closed after the test."""
    started = []

    def start(**kw):
        srv = ScriptedServer(**kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def stub_vault():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def stub_vault_tls(tmp_path):
    srv = ScriptedServer(tmp_path, tls=True)
    yield srv
    srv.close()
