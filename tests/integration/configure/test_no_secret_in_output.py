# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A `--diff -vvv` run shows what changed, never the secret."""

from __future__ import annotations

import uuid

from .conftest import RC

HOST = "host2"


def test_diff_vvv_never_shows_the_password(lab, configure, clean_msmtp, standins, base_vars):
    first = {"type": "basic", "username": standins.mailbox, "password": standins.password}
    run = configure.run(HOST, dict(base_vars, smtp_configure_credential=first,
                                   smtp_configure_apps=[{"preset": "msmtp"}]), "--diff", "-vvv")
    assert run.rc == 0, run.output[-3000:]
    assert standins.password not in run.output
    assert "+++ after: " + RC in run.output  # the diff is there...
    assert "fingerprint:" in run.output  # ...with the password as a fingerprint

    # A rotation (a second valid password) shows a changed fingerprint, not either password.
    second = "Rot@ted " + uuid.uuid4().hex + " '\"$;#"
    standins.control.add_password(standins.mailbox, second)
    try:
        rotated = dict(first, password=second)
        run = configure.run(HOST, dict(base_vars, smtp_configure_credential=rotated,
                                       smtp_configure_apps=[{"preset": "msmtp"}]), "--diff", "-vvv")
        assert run.rc == 0, run.output[-3000:]
        assert second not in run.output and standins.password not in run.output
        assert "-password fingerprint:" in run.output.replace('"', "") or "fingerprint:" in run.output
    finally:
        standins.control.revoke_password(standins.mailbox, second)
