# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Vault faults: the lab's fault proxy (412, 429, 5xx, slow), a sealed server, bad TLS certificates.

The fault-proxy cases need the lab (`.lab/ctl-exec`); the TLS cases run with or without it.
Every fault rule is scoped to this run's KV mount, so nothing else on a shared lab meets it.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import fetch_credentials
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions
from tests.lab.pki_bad import issue_bad

PATH = "smtp/basic"


def fetch(vault, url, **kw):
    kw.setdefault("mount", vault.info["kv2"])
    kw.setdefault("timeout", 5)
    kw.setdefault("auth", {"method": "token", "token_file": vault.info["read_token_file"]})
    return fetch_credentials(VaultOptions(dict(kw, path=kw.pop("path", PATH), url=url), ACTION_SPEC,
                                          environ={}, warn=[].append))[0]


@pytest.fixture
def proxy(vault, request):
    """(fault proxy url, control, path prefix of this run's KV v2 mount); faults cleared after."""
    if not vault.lab:
        pytest.skip("the Vault fault proxy is part of the lab: run under .lab/ctl-exec")
    standins = request.getfixturevalue("standins")
    standins.control.clear_vault_faults()
    yield standins.vault_proxy_url, standins.control, "/v1/%s/" % vault.info["kv2"]
    standins.control.clear_vault_faults()


def counters(control):
    return dict(control.counters()["vault_proxy"])


def delta(before, after):
    return dict((k, after[k] - before.get(k, 0)) for k in after)


def reads(vault, offset, count=1, timeout=30.0):
    read = "%s/data/%s" % (vault.info["kv2"], PATH)
    return [p for _op, p in vault.wait_audit(offset, count, timeout) if p == read]


# ---- retried statuses -------------------------------------------------------------------

def test_412_then_success_after_one_retry(vault, proxy):
    url, control, prefix = proxy
    control.add_vault_fault(status=412, times=1, path_prefix=prefix)
    before, offset = counters(control), vault.audit_offset()
    cred = fetch(vault, url, retries=2)
    assert cred["password"] == vault.info["secrets_v2"][PATH]["password"]
    # Two attempts: the proxy answered the first with 412, the retry reached OpenBao.
    d = delta(before, counters(control))
    assert d["faulted"] == 1 and d["passed"] == 1
    assert len(reads(vault, offset)) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_status_n_times_then_success(vault, proxy, status):
    url, control, prefix = proxy
    control.add_vault_fault(status=status, times=2, path_prefix=prefix)
    before, offset = counters(control), vault.audit_offset()
    assert fetch(vault, url, retries=3)["type"] == "basic"
    d = delta(before, counters(control))
    assert d["faulted"] == 2 and d["passed"] == 1
    assert len(reads(vault, offset)) == 1


@pytest.mark.parametrize("status,words", [
    (412, ("not ready", "HTTP 412", "retry later")),
    (429, ("rate-limited", "HTTP 429", "raise retries")),
    (500, ("InternalServerError", "after all retries", "Vault server's log")),
    (502, ("BadGateway", "after all retries", "load balancer")),
    (503, ("sealed or unavailable", "HTTP 503", "unseal")),
])
def test_status_beyond_retries_is_a_clear_error(vault, proxy, status, words):
    url, control, prefix = proxy
    control.add_vault_fault(status=status, times=None, path_prefix=prefix)
    before, offset = counters(control), vault.audit_offset()
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, url, retries=2)
    msg = str(err.value)
    for word in words:
        assert word in msg
    assert PATH in msg
    # Bounded: exactly 1 + retries attempts, none of which reached OpenBao.
    d = delta(before, counters(control))
    assert d["faulted"] == 3 and d["passed"] == 0
    assert reads(vault, offset, count=1, timeout=1) == []


# ---- slow -------------------------------------------------------------------------------

def test_slow_beyond_timeout_fails_after_the_retries(vault, proxy):
    url, control, prefix = proxy
    control.add_vault_fault(delay=3, times=3, path_prefix=prefix)
    before, offset = counters(control), vault.audit_offset()
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, url, timeout=1, retries=2)
    msg = str(err.value)
    assert "did not answer in time" in msg and "raise timeout or retries" in msg and url in msg
    # Every attempt met the delay; each one reached OpenBao once its delay ran out,
    # long after the client had given up on it.
    assert delta(before, counters(control))["delayed"] == 3
    assert len(reads(vault, offset, count=3)) == 3


def test_slow_once_then_the_retry_succeeds(vault, proxy):
    url, control, prefix = proxy
    control.add_vault_fault(delay=3, times=1, path_prefix=prefix)
    before, offset = counters(control), vault.audit_offset()
    assert fetch(vault, url, timeout=1, retries=1)["type"] == "basic"
    assert delta(before, counters(control))["delayed"] == 1
    # The retry's read, then the abandoned first attempt's read once its delay ran out.
    assert len(reads(vault, offset, count=2)) == 2


# ---- unreachable, sealed ----------------------------------------------------------------

def test_refused_names_the_url_and_what_to_check(vault, closed_port_url):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, closed_port_url, retries=1)
    msg = str(err.value)
    assert "cannot connect" in msg and closed_port_url in msg and "connection refused" in msg
    assert "Check url (VAULT_ADDR)" in msg


def test_sealed_throwaway_server(vault, sealed_vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, sealed_vault, retries=1)
    msg = str(err.value)
    assert sealed_vault in msg and "sealed" in msg and "unseal" in msg


# ---- TLS: one bad certificate per reason --------------------------------------------------

class _Health(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        return

    def do_GET(self):
        body = json.dumps({"data": {"data": {}, "metadata": {}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def bad_tls(vault, tmp_path_factory):
    """kind -> https url of a server on the Vault's address presenting that bad certificate."""
    name = vault.addr_https.split("//", 1)[1].rsplit(":", 1)[0]
    leaves = issue_bad(vault.pki, tmp_path_factory.mktemp("bad-tls"), "vault", [name])
    servers, urls = [], {}
    for kind, leaf in leaves.items():
        httpd = ThreadingHTTPServer((vault.host, 0), _Health)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        servers.append(httpd)
        urls[kind] = "https://%s:%d" % (name, httpd.server_address[1])
    yield urls
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("kind,words", [
    ("wrong_name", ("not valid for the host name in url", "reissued")),
    ("expired", ("has expired", "Renew the certificate")),
    ("untrusted", ("not trusted", "ca_path")),
])
def test_bad_certificate_says_which_and_what_to_do(vault, bad_tls, kind, words):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, bad_tls[kind], ca_path=vault.ca_path, retries=1)
    msg = str(err.value)
    assert "TLS to Vault at %s failed" % bad_tls[kind] in msg
    for word in words:
        assert word in msg
