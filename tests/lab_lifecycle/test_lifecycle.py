# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Up, then down, leaves nothing behind; and one lab never touches another.

Runs in the root namespace (it creates labs), before the shared lab is up.
Each lab here has its own state dir, hence its own prefix and subnet.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.lab.core import REPO, Lab
from tests.lab.sysutil import run


@pytest.fixture
def two_labs():
    labs = [Lab(REPO / ".lab-lifecycle-a"), Lab(REPO / ".lab-lifecycle-b")]
    yield labs
    for lab in labs:
        lab.down(quiet=True)
        shutil.rmtree(lab.dir, ignore_errors=True)


def test_up_down_leaves_nothing_and_spares_other_labs(two_labs, capsys):
    a, b = two_labs
    assert a.ident.prefix != b.ident.prefix and a.ident.subnet != b.ident.subnet
    t0 = time.monotonic()
    state_a = a.up(3, standins=False)
    up_seconds = time.monotonic() - t0
    b.up(1, postfix=False, standins=False)
    left_a = a.leftovers()
    assert len(left_a["namespaces"]) == 4 and left_a["pids"], left_a
    # Every host's sshd and Postfix run inside the lab's namespaces.
    assert any("sshd" in Path(f"/proc/{p}/cmdline").read_text() for p in left_a["pids"])

    # A second `up` first clears what the earlier lab of the same checkout left.
    old_pids = set(left_a["pids"])
    a.up(2, postfix=False, standins=False)
    left_a = a.leftovers()
    assert len(left_a["namespaces"]) == 3 and not old_pids & set(left_a["pids"])

    a.down()
    assert a.leftovers() == {"namespaces": [], "links": [], "pids": [], "mounts": []}
    assert not a.layers_dir.exists(), "the hosts' overlay layers must go with the lab"
    assert len(b.leftovers()["namespaces"]) == 2, "tearing down lab A must spare lab B"
    b.down()
    assert b.leftovers() == {"namespaces": [], "links": [], "pids": [], "mounts": []}
    # The blackhole route for the whole lab range stays after teardown.
    assert "blackhole 198.18.0.0/15" in run(["ip", "route", "show", "type", "blackhole"]).stdout
    with capsys.disabled():
        print(f"\n[lab-lifecycle] up with 3 hosts (sshd + Postfix, OpenBao) took {up_seconds:.1f}s "
              f"(the lab's own figure: {state_a['up_seconds']}s)")
