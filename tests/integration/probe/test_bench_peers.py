# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe benchmark's peer, swaks, on a lab host: a run that did not reach its stage is refused (issue 17).

On a fresh machine swaks lacked Net::SSLeay (a Recommends that `--no-install-recommends` skipped),
exited at once with "TLS not available", and bench/probe_bench.py timed that exit as a result.
Here swaks runs through the bench's own driver twice: as installed (every case reaches its
stage), and with a Net::SSLeay that cannot load, which the bench must refuse.
"""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from tests.lab.core import REPO


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        yield importlib.import_module("probe_bench")
    finally:
        sys.path.remove(str(REPO / "bench"))


def _drive(lab, host, bench, conf, extra_env=()):
    spec = json.dumps({"runs": 1, "cases": bench.swaks_cases("ab", str(conf))})
    cmd = ["env", *extra_env, lab.host(host)["python"], "-c", bench.SWAKS_DRIVER]
    proc = lab.host_run(host, cmd, input=spec, timeout=120)
    return json.loads(proc.stdout)


def test_the_bench_refuses_a_swaks_run_that_did_not_reach_its_stage(lab, standins, bench, tmp_path):
    host = lab.hosts[0]["name"]
    standins.control.set_port_mode(465, "tls")
    conf = tmp_path / "swaks.conf"
    conf.write_text(f"auth-user {standins.mailbox}\nauth-password {standins.password}\n")
    conf.chmod(0o600)
    rows = _drive(lab, host, bench, conf)
    assert [bench.swaks_failure(r) for r in rows] == [None, None], [r["outputs"] for r in rows]
    # A Net::SSLeay that cannot load: what swaks met on a machine without the package.
    broken = tmp_path / "perl" / "Net"
    broken.mkdir(parents=True)
    (broken / "SSLeay.pm").write_text("die 'not installed';\n")
    rows = _drive(lab, host, bench, conf, [f"PERL5LIB={tmp_path / 'perl'}"])
    assert "TLS not available" in rows[0]["outputs"][0], rows[0]["outputs"]
    why = bench.swaks_failure(rows[0])
    assert why and why.startswith("swaks did not reach auth in case (a)") and "TLS not available" in why
    assert rows[0]["ms"] < 2000  # the fast exit the bench once counted as a result
