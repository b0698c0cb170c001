"""Fixtures for tests that run on the lab, inside its controller namespace."""

from __future__ import annotations

import pytest

from tests.lab.fixtures import LabHandle


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
    touched, mounts = set(), []

    class _Knobs:
        def __getattr__(self, name):
            fn = getattr(lab, name)

            def call(host, *a, **kw):
                touched.add(host)
                if name in ("readonly", "small_disk"):
                    mounts.append((host, a[0] if a else kw["path"]))
                return fn(host, *a, **kw)
            return call

    yield _Knobs()
    for host, path in reversed(mounts):
        lab.unmount(host, path)
    for host in touched:
        lab.clear(host)
