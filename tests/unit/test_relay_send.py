# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""relay-send, the xoauth2 relay's pipe command: which outcomes Postfix defers and which it bounces."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parents[2] / "roles" / "smtp_relay" / "files" / "relay-send"


def _load():
    loader = importlib.machinery.SourceFileLoader("relay_send", str(HELPER))
    spec = importlib.util.spec_from_loader("relay_send", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


rs = _load()
FAILED = "msmtp: could not send mail (account relay from /etc/mailops-smtp/relay-msmtprc)\n"


def said(reply: str) -> str:
    return "msmtp: the server did not accept the mail\nmsmtp: server message: %s\n%s" % (reply, FAILED)


@pytest.mark.parametrize("rc, output, expected", [
    (0, "", rs.EX_OK),
    (75, said("451 4.7.500 Server busy. Please try again later"), rs.EX_TEMPFAIL),
    (69, said("432 4.3.2 Concurrent connections limit exceeded."), rs.EX_TEMPFAIL),
    (77, "msmtp: authentication failed (method XOAUTH2)\nmsmtp: server message: 535 5.7.3 Authentication "
         "unsuccessful\n" + FAILED, rs.EX_TEMPFAIL),
    (69, said("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed"), rs.EX_TEMPFAIL),
    (69, said("554 5.2.252 SendAsDenied; svc not allowed to send as x"), rs.EX_UNAVAILABLE),
    (69, said("550 5.7.708 Access denied, traffic not accepted from this IP"), rs.EX_UNAVAILABLE),
    (69, FAILED, rs.EX_TEMPFAIL),          # no reply from the server: never bounce on a guess
    (74, "msmtp: cannot connect to smtp.office365.com: Connection timed out\n" + FAILED, rs.EX_TEMPFAIL),
    (66, "msmtp: cannot set X509 trust file\n" + FAILED, rs.EX_TEMPFAIL),
])
def test_exit_codes_map_onto_defer_or_bounce(rc, output, expected):
    assert rs.exit_code(rc, output) == expected


def test_the_last_server_reply_counts():
    out = "msmtp: server message: 250 2.0.0 OK\n" + said("554 5.2.252 SendAsDenied")
    assert rs.server_reply(out) == (554, "5.2.252 SendAsDenied")


def test_a_missing_empty_or_expired_token_is_reported_without_the_token(tmp_path):
    token = tmp_path / "relay.token"
    assert "cannot be read" in rs.token_problem(str(token), now=1000)
    token.write_text("")
    assert "is empty" in rs.token_problem(str(token), now=1000)
    token.write_text("eyJ-the-token")
    (tmp_path / "relay.token.json").write_text(json.dumps({"expires_at": 1030}))
    problem = rs.token_problem(str(token), now=1000, margin=60)
    assert "has expired" in problem and "eyJ" not in problem
    assert rs.token_problem(str(token), now=1000, margin=10) is None
    (tmp_path / "relay.token.json").write_text("[")
    assert "not the refresher's JSON" in rs.token_problem(str(token), now=1000)


def test_an_expired_token_defers_before_msmtp_runs(tmp_path, capsys):
    token = tmp_path / "relay.token"
    token.write_text("eyJ-the-token")
    (tmp_path / "relay.token.json").write_text(json.dumps({"expires_at": 1}))
    rc = rs.main(["--msmtp-config", "/nonexistent", "--token-file", str(token), "--msmtp", "/nonexistent/msmtp",
                  "--", "svc@contoso.com", "ops@contoso.com"])
    assert rc == rs.EX_TEMPFAIL
    out = capsys.readouterr().out
    assert "has expired" in out and "eyJ-the-token" not in out
