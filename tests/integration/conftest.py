# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests that run on the lab, inside its controller namespace."""

from __future__ import annotations

import pytest

from tests.lab.fixtures import LabHandle, knob_session


@pytest.fixture(scope="session")
def lab() -> LabHandle:
    try:
        return LabHandle.load()
    except FileNotFoundError:
        pytest.fail("no lab is up: run the integration tests through `make test` "
                    "(or `make lab-up` and `.lab/ctl-exec .venv/bin/pytest tests/integration`)")


@pytest.fixture
def knobs(lab):
    """Set per-host faults in a test; every touched host is cleared afterwards."""
    with knob_session(lab) as session:
        yield session


@pytest.fixture(scope="session")
def standins(lab, tmp_path_factory):
    """The lab's stand-ins (addresses, credentials, control client).

    tests/integration/standins/conftest.py overrides this with a local set when no lab is up;
    everywhere else the stand-ins must be the lab's.
    """
    from tests.lab.standins.handle import lab_standins
    found = lab_standins(tmp_path_factory.mktemp("lab-standins"))
    if found is None:
        pytest.fail(f"the lab in {lab.dir} runs no stand-ins (no 'standins' in its lab.json): "
                    "bring it up again with `python -m tests.lab up`")
    return found
