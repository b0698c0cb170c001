# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the proof-of-trust suites (issue 9): the lab, its stand-ins, knobs, and timing.

The leak and fault suites run on a lab, inside its controller namespace (`.lab/ctl-exec`); the
hostile-input matrices run in-process and need no lab. Each test module prints its duration.
"""

from __future__ import annotations

import time

import pytest


@pytest.fixture(scope="session")
def lab():
    from tests.lab.fixtures import LabHandle
    try:
        return LabHandle.load()
    except FileNotFoundError:
        pytest.fail("no lab is up: run through `make test`, or `python -m tests.lab --state-dir .lab-sec up` "
                    "and `MAILOPS_LAB_STATE=.lab-sec .lab-sec/ctl-exec .venv/bin/python -m pytest tests/security`")


@pytest.fixture(scope="session")
def standins(lab, tmp_path_factory):
    from tests.lab.standins.handle import lab_standins
    found = lab_standins(tmp_path_factory.mktemp("sec-standins"))
    if found is None:
        pytest.fail(f"the lab in {lab.dir} runs no stand-ins; bring it up again with `python -m tests.lab up`")
    return found


@pytest.fixture
def knobs(lab):
    """Per-host faults for one test; mounts are undone and touched hosts cleared afterwards."""
    from tests.lab.fixtures import knob_session
    with knob_session(lab) as session:
        yield session


@pytest.fixture(scope="module", autouse=True)
def suite_duration(request):
    """Print how long each suite (test module) took, as issue 9 asks."""
    t0 = time.monotonic()
    yield
    tr = request.config.pluginmanager.getplugin("terminalreporter")
    line = f"suite {request.module.__name__.rsplit('.', 1)[-1]}: {time.monotonic() - t0:.1f}s"
    if tr is not None:
        tr.write_line("")
        tr.write_line(line)
    else:
        print(line)
