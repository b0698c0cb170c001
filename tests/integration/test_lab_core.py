# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's core: each host's own view of the network and the filesystem."""

from __future__ import annotations

import errno
import json
import socket
import threading
import time

import pytest

from tests.lab.core import OVERLAID

CONNECT = """
import socket, sys, time, json
t = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    r = "ok"
except socket.timeout:
    r = "timeout"
except ConnectionRefusedError:
    r = "refused"
except OSError as e:
    r = "error %s" % e
print(json.dumps({"result": r, "seconds": time.monotonic() - t}))
"""


@pytest.fixture
def listener(lab):
    """A TCP listener on the SMTP stand-in's address, on a port no service uses."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((lab.addr("controller"), 0))
    srv.listen(64)
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                srv.accept()[0].close()
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()
    stop.set()
    t.join()
    srv.close()


def connect_from(lab, host, addr, port, timeout=2.0):
    proc = lab.host_run(host, [lab.host(host)["python"], "-c", CONNECT, addr, str(port), str(timeout)])
    return json.loads(proc.stdout)


def test_rejected_port_is_refused(lab, knobs, listener):
    addr, port = listener
    assert connect_from(lab, "host1", addr, port)["result"] == "ok"
    knobs.firewall("host1", port, "reject")
    assert connect_from(lab, "host1", addr, port)["result"] == "refused"
    assert connect_from(lab, "host2", addr, port)["result"] == "ok", "a knob must touch one host only"


def test_dropped_port_times_out(lab, knobs, listener):
    addr, port = listener
    knobs.firewall("host1", port, "drop")
    assert connect_from(lab, "host1", addr, port, timeout=1.0)["result"] == "timeout"


def test_netem_latency_is_measurable_and_aimed(lab, knobs):
    # Listeners on two controller-side addresses: only the peer one is slowed.
    peer, other = lab.addr("smtp"), lab.addr("controller")
    socks = []
    for a in (peer, other):
        s = socket.socket()
        s.bind((a, 0))
        s.listen(8)
        socks.append(s)
    try:
        knobs.latency("host2", 150, peer)
        slowed = connect_from(lab, "host2", peer, socks[0].getsockname()[1])
        plain = connect_from(lab, "host2", other, socks[1].getsockname()[1])
        assert slowed["result"] == plain["result"] == "ok"
        # 150 ms each way: a TCP connect takes one round trip, at least 300 ms.
        assert slowed["seconds"] >= 0.29
        assert plain["seconds"] < slowed["seconds"] - 0.2
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("top", OVERLAID)
def test_hosts_have_private_overlaid_trees(lab, top):
    marker = f"mailops-lab-{time.time_ns()}"
    path = f"/{top}/mailops-lab-marker"
    lab.host_run("host1", ["sh", "-c", f"echo {marker} > {path}"])
    try:
        assert lab.host_run("host1", ["cat", path]).stdout.strip() == marker
        assert lab.host_run("host2", ["cat", path], check=False).returncode != 0
        with pytest.raises(FileNotFoundError):
            open(path)
        assert lab.host_run("host2", ["hostname"]).stdout.strip() == "host2"
    finally:
        lab.host_run("host1", ["rm", "-f", path])


def test_removed_name_fails_on_that_host_only(lab, knobs):
    code = "import socket; print(socket.gethostbyname('smtp.office365.com'))"
    knobs.remove_name("host1")
    assert lab.host_run("host1", [lab.host("host1")["python"], "-c", code], check=False).returncode != 0
    assert lab.host_python("host2", code).stdout.strip() == lab.addr("smtp")


def test_readonly_path(lab, knobs):
    lab.host_run("host1", ["mkdir", "-p", "/srv/ro-test"])
    knobs.readonly("host1", "/srv/ro-test")
    proc = lab.host_run("host1", ["touch", "/srv/ro-test/x"], check=False)
    assert proc.returncode != 0 and "Read-only" in proc.stderr


def test_controller_namespace_cannot_reach_outside(lab):
    # TEST-NET-3: never routed anywhere; the namespace has no route at all.
    start = time.monotonic()
    with pytest.raises(OSError) as err:
        socket.create_connection(("203.0.113.1", 443), timeout=5)
    assert err.value.errno == errno.ENETUNREACH
    assert time.monotonic() - start < 1.0, "no route must fail at once, not time out"


@pytest.mark.compat
def test_smoke_playbook_reaches_every_host(lab):
    proc = lab.ansible(["tests/lab/playbooks/smoke.yml"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for h in lab.hosts:
        assert f"{h['name']} (Python" in proc.stdout
        assert f"smtp.office365.com is {lab.addr('smtp')}" in proc.stdout
    old = lab.state["old_python_host"]
    import re
    m = re.search(rf"{old} \(Python (3\.\d+)", proc.stdout)
    assert m and m.group(1) in ("3.8", "3.9"), proc.stdout
