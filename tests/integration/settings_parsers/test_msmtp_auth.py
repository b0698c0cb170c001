# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""msmtp reads the password from the written msmtprc and sends it in AUTH LOGIN to a loopback server."""

from __future__ import annotations

import socket
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .conftest import USER, cred, has_break, write_corpus


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@pytest.fixture
def smtp_server():
    seen = []

    def auth(server, session, envelope, mechanism, data):
        if isinstance(data, LoginPassword):
            seen.append((data.login.decode("utf-8"), data.password.decode("utf-8")))
        return AuthResult(success=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False,
                     auth_exclude_mechanism=["PLAIN"])
    ctl.start()
    try:
        yield ctl, seen
    finally:
        ctl.stop()


def test_msmtp_sends_exact_password(tmp_path, smtp_server):
    ctl, seen = smtp_server
    port = ctl.port

    def params(d, pw):
        (d / "msmtprc").write_text("defaults\nlogfile -\n\naccount other\nhost other.example\n")
        return {"preset": "msmtp", "path": str(d / "msmtprc"), "credential": cred(pw),
                "smtp": {"host": "127.0.0.1", "port": port, "security": "starttls", "from_address": USER},
                "options": {"account": "o365"}}

    # msmtp has no escape: every line break is refused.
    accepted = write_corpus(tmp_path, params, has_break)
    for pw, d in accepted.items():
        # The test server has no TLS; later lines in an account override earlier ones.
        rc = d / "msmtprc"
        text = rc.read_text(encoding="utf-8")
        assert text.startswith("# managed by mailops.smtp: credential secret/smtp/o365-mailer version 3 auth basic\n")
        test_rc = d / "msmtprc.test"
        test_rc.write_text(text + "tls off\n", encoding="utf-8")
        test_rc.chmod(0o600)
        p = subprocess.run(["msmtp", "-C", str(test_rc), "-a", "o365", "rcpt@example.test"],
                           input=b"Subject: t\n\nbody\n", capture_output=True, timeout=30, check=False)
        assert p.returncode == 0, p.stderr.decode(errors="replace")[-300:].replace(pw, "<pw>")
        assert seen[-1] == (USER, pw)
    assert len(seen) == len(accepted)
