# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/probe_bench.py counts a run only when its peer reached the stage it was asked for (issue 17)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import probe_bench
        yield probe_bench
    finally:
        sys.path.remove(str(REPO / "bench"))


NO_TLS = "\n*** TLS not available: requires Net::SSLeay.  Exiting\n"
AUTH_OK = "=== TLS started with cipher TLSv1.3\n ~> AUTH LOGIN\n<~  235 2.7.0 Authentication successful\n"


def test_a_swaks_run_without_tls_is_refused(bench):
    row = {"case": "a", "stages": ["auth"], "outputs": [NO_TLS]}
    why = bench.swaks_failure(row)
    assert why.startswith("swaks did not reach auth in case (a)") and "Net::SSLeay" in why
    assert bench.swaks_failure(dict(row, outputs=[AUTH_OK])) is None


def test_a_dropped_port_counts_only_when_waited_out(bench):
    waited = "=== Trying smtp.office365.com:465...\n*** \tIO::Socket::INET: connect: timeout\n"
    assert bench.swaks_failure({"case": "c", "stages": ["auth", "timeout"], "outputs": [AUTH_OK, waited]}) is None
    assert bench.swaks_failure({"case": "c", "stages": ["auth", "timeout"], "outputs": [AUTH_OK, NO_TLS]})


def _port(ok=True, auth_ok=None, code=None):
    return {"ok": ok, "stages": [{"name": "dns"}, {"name": "connect"}],
            "auth": None if auth_ok is None else {"ok": auth_ok}, "diagnosis": {"code": code} if code else None}


def test_a_failed_probe_run_is_refused(bench):
    good = {"ok": True, "elapsed_ms": 800, "ports": {"587": _port(auth_ok=True)}}
    assert bench.probe_failure("a", good) is None
    assert "failed case (a)" in bench.probe_failure("a", dict(good, ok=False, summary="587 failed at connect"))
    assert "did not log in" in bench.probe_failure("a", {"ok": True, "ports": {"587": _port()}})
    c = {"ok": True, "ports": {"587": _port(auth_ok=True), "465": _port(False, code="tcp_refused")}}
    assert "465 was not waited out" in bench.probe_failure("c", c)
    d = {"ok": True, "ports": {str(p): _port() for p in bench.D_PORTS}}
    assert bench.probe_failure("d", d) is None
    d["ports"]["26"]["stages"] = [{"name": "dns"}]
    assert bench.probe_failure("d", d)
