# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight of a whole fleet stays within smtp_configure_auth_concurrency logins per mailbox.

Every lab host runs the role at once (forks = hosts) with 50 ms of latency each way to the
stand-in, so that the hosts' probes overlap; the stand-in counts the authenticated sessions of
the mailbox.
"""

from __future__ import annotations

import uuid

from .conftest import failures, host_sh

LIMIT = 2
FILE = "/root/mailops-presets-throttle.env"


def test_preflight_logins_never_exceed_the_concurrency(lab, standins, configure, knobs):
    hosts = [h["name"] for h in lab.hosts]
    assert len(hosts) > LIMIT, "the lab needs more hosts than the limit for this test to mean anything"
    box = "presets-throttle-%s@contoso.com" % uuid.uuid4().hex[:8]
    password = "throttle-%s" % uuid.uuid4().hex
    standins.control.set_mailbox(box, passwords=[password])
    for h in hosts:
        knobs.latency(h, 50)
        host_sh(lab, h, 'rm -f "$1"', FILE)
    role_vars = {
        "smtp_configure_ca_path": lab.ca,
        "smtp_configure_credential": {"type": "basic", "username": box, "password": password},
        "smtp_configure_auth_concurrency": LIMIT,
        "smtp_configure_apps": [{"format": "env", "path": FILE,
                                 "keys": {"username": "SMTP_USER", "password": "SMTP_PASSWORD"}}],
    }
    try:
        run = configure.run(",".join(hosts), role_vars, "-f", str(len(hosts)))
        assert run.rc == 0, failures(run)
    finally:
        for h in hosts:
            host_sh(lab, h, 'rm -f "$1"', FILE)
    c = standins.control.mailbox_counters(box)
    assert c["auth_ok"] == len(hosts), c  # every host logged in, once
    assert c["auth_rejected_concurrency"] == 0 and c["send_rejected_concurrency"] == 0, c  # no 432 4.3.2
    assert 1 <= c["peak_concurrent"] <= LIMIT, c
