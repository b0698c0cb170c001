# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the probe tests on the lab; the helpers are in probe_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # also under --import-mode=importlib
    sys.path.insert(0, _HERE)

from probe_helpers import HostKnobs, Runner  # noqa: E402


@pytest.fixture(scope="module")
def runner(lab, standins, tmp_path_factory):
    return Runner(lab, standins, tmp_path_factory.mktemp("probe"))


@pytest.fixture(autouse=True)
def _reset_standins(standins):
    """Every test starts and ends with the stand-ins as configured: no faults, zeroed counters."""
    standins.control.reset()
    yield
    standins.control.reset()


@pytest.fixture(scope="module")
def host_knobs(lab):
    knobs = HostKnobs(lab)
    yield knobs
    knobs.close()


@pytest.fixture(scope="session")
def fleet(lab):
    """Host names: the ordinary hosts, and the last one, which runs the oldest target Python."""
    names = [h["name"] for h in lab.hosts]
    if len(names) < 6:
        pytest.fail(f"the probe tests need a lab of at least 6 hosts, this one has {len(names)}: "
                    "bring it up with --hosts 6")
    return {"hosts": names[:-1], "old": lab.state.get("old_python_host", names[-1])}
