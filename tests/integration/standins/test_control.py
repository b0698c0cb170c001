# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control interface, the server's CLI, drop rules, and secrets staying out of logs."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.standins.control import ControlError, StandinControl
from tests.lab.standins.drop import drop_rules

from standins_client import get_token, message, submission, xoauth2

REPO = Path(__file__).resolve().parents[3]


def test_unknown_op_and_fault_are_refused_with_guidance(standins):
    with pytest.raises(ControlError, match="known:"):
        standins.control.call("no_such_op")
    with pytest.raises(ControlError, match="use one of"):
        standins.control.set_fault("meteor_strike")
    with pytest.raises(ControlError, match="kind"):
        standins.control.set_fault("bad_cert")


def test_reset_restores_configured_state(standins):
    control = standins.control
    control.set_mailbox(standins.mailbox, basic_auth_retired=True)
    control.set_fault("banner_421")
    control.reset()
    with submission(standins) as client:
        assert client.login(standins.mailbox, standins.password)[0] == 235
    assert control.counters()["faults"]["smtp"] == {}


def test_revoking_an_unknown_password_names_no_secret(standins):
    with pytest.raises(ControlError) as err:
        standins.control.revoke_password(standins.mailbox, "never-was-valid")
    assert "never-was-valid" not in str(err.value)


def test_control_cli(standins):
    out = subprocess.run([sys.executable, "-m", "tests.lab.standins.control", "--socket",
                          standins.control.socket_path, "set_fault", '{"name": "banner_421"}'],
                         cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert standins.control.counters()["faults"]["smtp"] == {"banner_421": {}}


def test_drop_rules_cover_drop_ports():
    cfg = {"smtp": {"address": "198.18.0.2", "ports": {"587": "starttls", "465": "drop"}}}
    rules = drop_rules(cfg)
    assert ["nft", "add", "rule", "inet", "mailops_standins", "input", "ip", "daddr",
            "198.18.0.2", "tcp", "dport", "465", "drop"] in rules
    assert not any("587" in rule for rule in rules)


def test_secrets_stay_out_of_log_and_store(standins):
    if "log" not in standins.extras:
        pytest.skip("needs the local fixture's log file")
    token = get_token(standins)
    with submission(standins) as client:
        client.auth("XOAUTH2", xoauth2(standins.mailbox, token))
        client.send_message(message(standins.mailbox, "someone@example.net"))
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
    texts = [Path(standins.extras["log"]).read_text(errors="replace")]
    texts += [p.read_text() for p in Path(standins.extras["store_dir"], "messages").glob("*.json")]
    texts.append(json.dumps(standins.control.counters()))
    assert len(texts) >= 3
    for text in texts:
        for secret in (token, standins.password, standins.app.secret):
            assert secret not in text


def test_server_cli_fault_flag_and_minimal_config(tmp_path, standins):
    from tests.lab.pki import CA
    ca = CA(tmp_path / "pki")
    leaf = ca.issue("smtp", ["smtp.office365.com", "127.77.0.12"])
    cfg = {"control_socket": str(tmp_path / "c.sock"), "store_dir": str(tmp_path / "store"),
           "ca": str(ca.cert_path),
           "smtp": {"address": "127.77.0.12", "ports": {"587": "starttls"},
                    "cert": str(leaf.cert), "key": str(leaf.key)}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "tests.lab.standins.server", "--config",
                             str(tmp_path / "cfg.json"), "--fault", "smtp:throttle:stage=banner"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    control = StandinControl(cfg["control_socket"])
    try:
        control.wait_ready(timeout=20)
        with pytest.raises(smtplib.SMTPConnectError) as err:
            smtplib.SMTP("127.77.0.12", 587, timeout=5)
        assert err.value.smtp_code == 451
        control.reset()  # the CLI fault is the run's baseline and survives a reset
        with pytest.raises(smtplib.SMTPConnectError):
            smtplib.SMTP("127.77.0.12", 587, timeout=5)
        control.shutdown()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert not Path(cfg["control_socket"]).exists()
