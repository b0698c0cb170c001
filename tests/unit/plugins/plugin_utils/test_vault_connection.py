# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hvac client: TLS settings on the retry session, bounded retries, proxies, missing hvac."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils import _vault_connection as conn
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import fetch_credentials
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    # Outcomes, not timing, are under test: keep the backoff short.
    monkeypatch.setattr(conn, "BACKOFF_FACTOR", 0.01)
    monkeypatch.setattr(conn, "BACKOFF_JITTER", 0.01)


def make(url, **kw):
    kw.setdefault("auth", {"token": "hvs.stub-token"})
    kw.setdefault("timeout", 5)
    return VaultOptions(dict(kw, path="smtp/x", url=url), ACTION_SPEC, environ={})


@pytest.mark.parametrize("validate_certs,ca_path,expected", [
    (False, None, False), (False, "/ca.pem", False), (True, "/ca.pem", "/ca.pem"), (True, None, True)])
def test_verify_reaches_session_and_adapter(validate_certs, ca_path, expected):
    client = conn.build_client(make("https://127.0.0.1:1", validate_certs=validate_certs, ca_path=ca_path))
    assert client.adapter.session.verify == expected
    # hvac copies a truthy session.verify over its own; both must agree.
    assert client.adapter._kwargs["verify"] == expected


def test_retry_policy_on_both_schemes():
    client = conn.build_client(make("http://127.0.0.1:1", retries=4))
    for prefix in ("http://", "https://"):
        retry = client.adapter.session.get_adapter(prefix + "x").max_retries
        assert retry.total == 4
        assert set(retry.status_forcelist) == {412, 429, 500, 502, 503}
        assert retry.allowed_methods is None
        assert retry.backoff_jitter > 0


def test_env_token_is_not_picked_up_by_hvac(monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "hvs.from-env")
    assert conn.build_client(make("http://127.0.0.1:1")).token is None


@pytest.mark.parametrize("status", [412, 429, 500, 502, 503])
def test_retried_statuses_then_success(stub_vault, status):
    stub_vault.queue.extend([(status, {"errors": []}), (status, {"errors": []})])
    cred = fetch_credentials(make(stub_vault.url, retries=2))[0]
    assert cred["password"] == "pw-from-stub" and cred["vault"]["version"] == 4
    assert len(stub_vault.requests) == 3
    assert all(r["token"] == "hvs.stub-token" for r in stub_vault.requests)


def test_retries_are_bounded(stub_vault):
    stub_vault.queue.extend([(503, {"errors": ["Vault is sealed"]})] * 6)
    with pytest.raises(VaultCredentialError) as err:
        fetch_credentials(make(stub_vault.url, retries=2))
    assert "sealed" in str(err.value)
    assert len(stub_vault.requests) == 3


def test_403_not_retried(stub_vault):
    stub_vault.queue.append((403, {"errors": ["permission denied"]}))
    with pytest.raises(VaultCredentialError) as err:
        fetch_credentials(make(stub_vault.url, retries=3))
    assert "403" in str(err.value)
    assert len(stub_vault.requests) == 1


def test_slow_answer_times_out_and_is_retried(stub_vault):
    stub_vault.queue.append((200, stub_vault.default[1], 1.6))
    cred = fetch_credentials(make(stub_vault.url, timeout=1, retries=1))[0]
    assert cred["type"] == "basic"
    assert len(stub_vault.requests) == 2


def test_slow_answer_without_retries_is_a_timeout_error(stub_vault):
    stub_vault.queue.append((200, stub_vault.default[1], 1.6))
    with pytest.raises(VaultCredentialError) as err:
        fetch_credentials(make(stub_vault.url, timeout=1, retries=0))
    assert "did not answer in time" in str(err.value)


def test_namespace_header(stub_vault):
    fetch_credentials(make(stub_vault.url, namespace="team-a"))
    assert stub_vault.requests[0]["namespace"] == "team-a"


def test_validate_certs_holds_on_retry_session(stub_vault_tls):
    # Untrusted certificate: refused even with retries (the session keeps verify).
    with pytest.raises(VaultCredentialError) as err:
        fetch_credentials(make(stub_vault_tls.url, retries=2))
    assert "TLS" in str(err.value)
    assert stub_vault_tls.requests == []
    cred = fetch_credentials(make(stub_vault_tls.url, retries=2, ca_path=stub_vault_tls.ca_path))[0]
    assert cred["type"] == "basic"


def test_ca_path_after_a_retry(stub_vault_tls):
    stub_vault_tls.queue.append((502, {"errors": []}))
    cred = fetch_credentials(make(stub_vault_tls.url, retries=1, ca_path=stub_vault_tls.ca_path))[0]
    assert cred["type"] == "basic" and len(stub_vault_tls.requests) == 2


def test_proxy_from_environment_is_honoured(monkeypatch, make_server):
    proxy = make_server()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # Nothing listens there: only a request through the proxy can succeed.
    target = "http://127.0.0.1:9"
    cred = fetch_credentials(make(target, retries=0))[0]
    assert cred["type"] == "basic"
    # A proxied request names the absolute URL in its request line.
    assert proxy.requests[0]["line"].startswith("GET %s/v1/secret/data/smtp/x" % target)


def test_missing_hvac_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "hvac", None)
    with pytest.raises(VaultCredentialError) as err:
        conn.import_hvac()
    assert "hvac" in str(err.value) and "pip install hvac" in str(err.value)
