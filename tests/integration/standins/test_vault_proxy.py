# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Vault fault proxy, and the throwaway sealed OpenBao."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.lab.standins.sealed_vault import start_sealed_vault, stop_sealed_vault

HEALTH = "/v1/sys/health"


def _get(url: str, timeout: float = 5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_passes_through(standins):
    status, body = _get(standins.vault_proxy_url + HEALTH)
    assert status == 200 and body["sealed"] is False
    assert standins.control.counters()["vault_proxy"]["passed"] == 1


@pytest.mark.parametrize("code", [412, 429, 500, 503])
def test_status_n_times_then_pass_through(standins, code):
    standins.control.add_vault_fault(status=code, times=2)
    outcomes = [_get(standins.vault_proxy_url + HEALTH) for _attempt in range(3)]
    assert [s for s, _body in outcomes] == [code, code, 200]
    assert isinstance(outcomes[0][1]["errors"], list) and outcomes[0][1]["errors"]
    assert standins.control.counters()["vault_proxy"]["faulted"] == 2


def test_fault_limited_to_a_path(standins):
    standins.control.add_vault_fault(status=503, times=None, path_prefix="/v1/secret/")
    assert _get(standins.vault_proxy_url + HEALTH)[0] == 200


def test_delay_past_the_client_timeout_then_pass(standins):
    standins.control.add_vault_fault(delay=3, times=1)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        urllib.request.urlopen(standins.vault_proxy_url + HEALTH, timeout=1).read()
    assert _get(standins.vault_proxy_url + HEALTH)[0] == 200
    assert standins.control.counters()["vault_proxy"]["delayed"] == 1


def test_sealed_vault(standins):
    proc, addr = start_sealed_vault(*standins.sealed_vault_addr)
    try:
        status, body = _get(addr + "/v1/sys/seal-status")
        assert status == 200 and body["sealed"] is True and body["initialized"] is True
        req = urllib.request.Request(addr + "/v1/secret/data/app", headers={"X-Vault-Token": "x"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 503
        assert "Vault is sealed" in json.loads(err.value.read())["errors"]
    finally:
        stop_sealed_vault(proc)
    assert proc.poll() is not None
