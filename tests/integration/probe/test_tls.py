# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Greeting, STARTTLS, TLS version and certificate faults of the SMTP stand-in, probed from a lab host.

One play, one round per stand-in fault (faults are global to the stand-in).
"""

from __future__ import annotations

import pytest

from probe_helpers import Round, diag, stage, submission_args

ROUNDS = {
    # name: (stand-in control operations, extra probe arguments)
    "tarpit": ([("set_fault", {"name": "tarpit", "seconds": 20})], {}),
    "stripped": ([("set_fault", {"name": "starttls_stripped"})], {}),
    "masked": ([("set_fault", {"name": "starttls_masked"})], {}),
    "reset": ([("set_fault", {"name": "reset_after_starttls"})], {"retries": 1}),
    "legacy_old_client": ([("set_fault", {"name": "legacy_tls"})], {"min_tls_version": "1.0"}),
    "legacy_modern_client": ([("set_fault", {"name": "legacy_tls"})], {}),
    "expired": ([("set_fault", {"name": "bad_cert", "kind": "expired"})], {}),
    "wrong_name": ([("set_fault", {"name": "bad_cert", "kind": "wrong_name"})], {}),
    "untrusted": ([("set_fault", {"name": "bad_cert", "kind": "untrusted"})], {}),
}


@pytest.fixture(scope="module")
def tls(runner, fleet, standins):
    host = fleet["hosts"][0]
    rounds = [Round(name, {host: submission_args(standins, **{"retries": 0, **extra})}, control=ops)
              for name, (ops, extra) in ROUNDS.items()]
    play = runner.play(rounds)
    return play, host


def _case(tls, name):
    play, host = tls
    return play.case(name, host), play.counters(name)


def test_tarpit_is_banner_timeout(tls):
    r, counters = _case(tls, "tarpit")
    assert r["ok"] is False
    assert diag(r, 587) == "banner_timeout"
    assert stage(r, 587, "connect")["ok"] is True and stage(r, 587, "banner")["ok"] is False
    assert counters["ports"]["smtp:587"] == 1


def test_stripped_starttls_is_starttls_missing(tls):
    r = _case(tls, "stripped")[0]
    assert diag(r, 587) == "starttls_missing"
    assert "STARTTLS" not in r["ports"]["587"]["extensions"]
    assert r["ports"]["587"]["tls"] is None


def test_masked_starttls_is_starttls_missing_and_names_the_middlebox(tls):
    r = _case(tls, "masked")[0]
    assert diag(r, 587) == "starttls_missing"
    assert "XXXXXXXA" in stage(r, 587, "starttls")["detail"]


def test_reset_after_starttls_is_tls_failed(tls):
    r, counters = _case(tls, "reset")
    assert diag(r, 587) == "tls_failed"
    assert stage(r, 587, "starttls")["ok"] is True and stage(r, 587, "tls")["ok"] is False
    # A reset is transient: retries: 1 gives exactly two connections.
    assert counters["ports"]["smtp:587"] == 2


def test_old_tls_against_legacy_mode_is_tls_version_rejected(tls):
    r = _case(tls, "legacy_old_client")[0]
    assert diag(r, 587) == "tls_version_rejected"
    assert r["ports"]["587"]["tls"]["version"] == "TLSv1"
    assert "4.7.66" in stage(r, 587, "ehlo_tls")["detail"]


def test_modern_client_against_legacy_mode_still_gets_tls12_or_newer(tls):
    r = _case(tls, "legacy_modern_client")[0]
    assert r["ok"] is True
    assert r["ports"]["587"]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("name, code, cert_checks", [
    ("expired", "cert_expired", {}),
    ("wrong_name", "cert_hostname_mismatch", {"hostname_match": False, "chain_trusted": True}),
    ("untrusted", "cert_untrusted", {"chain_trusted": False}),
])
def test_bad_certificates(tls, name, code, cert_checks):
    r, counters = _case(tls, name)
    assert r["ok"] is False
    assert diag(r, 587) == code
    assert stage(r, 587, "tls")["ok"] is False
    # The certificate that failed is still reported, from a second, unverified handshake.
    cert = r["ports"]["587"]["tls"]["cert"]
    assert cert["subject"]
    for key, value in cert_checks.items():
        assert cert[key] is value, (key, cert)
    if code == "cert_expired":
        assert cert["days_left"] < 0
    # Never a retry on a certificate fault: the probe's handshake and the unverified one.
    assert counters["ports"]["smtp:587"] == 2


def test_hostname_check_passes_through_a_wildcard_san_and_an_intermediate(tls):
    # The stand-in's certificate has Microsoft's shape: CN=outlook.com, smtp.office365.com only
    # through *.office365.com, issued by an intermediate the server sends (the lab CA is the root).
    r = _case(tls, "legacy_modern_client")[0]
    assert r["ok"] is True
    cert = r["ports"]["587"]["tls"]["cert"]
    assert cert["hostname_match"] is True and cert["chain_trusted"] is True, cert
    assert "outlook.com" in str(cert["subject"]) and "*.office365.com" in str(cert["san"]), cert
    assert "smtp.office365.com" not in str(cert["san"]), cert
    assert "Cloud Services CA-1" in str(cert["issuer"]), cert
    assert r["ports"]["587"]["tls"]["version"] == "TLSv1.2"
