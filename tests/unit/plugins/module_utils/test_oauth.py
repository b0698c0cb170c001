# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""OAuth client-credentials client against a local HTTPS token endpoint on 127.0.0.x."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import oauth

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))
from tests.unit._https import ScriptedJSONServer  # noqa: E402

SECRET = "Sup3r~Secret.Value_" + "%06d" % random.randint(0, 999999)


def aad_error(code, status=400, error="invalid_client", echo_secret=False):
    desc = "AADSTS%d: something went wrong. Trace ID: 1234" % code
    if echo_secret:
        desc += " client_secret=%s" % SECRET
    return status, {"error": error, "error_description": desc, "error_codes": [code]}


def _token_request(handler, body):
    return handler.path, urllib.parse.parse_qs(body.decode())


class TokenServer(ScriptedJSONServer):
    """Answers token requests from a queue of (status, payload[, delay]); records (path, form) of each."""

    def __init__(self, tmp_path):
        super().__init__(_token_request, (200, {"access_token": "tok", "expires_in": 3600}), tls_dir=tmp_path,
                         cert_name="token-endpoint")
        self.authority = self.url


@pytest.fixture
def server(tmp_path):
    srv = TokenServer(tmp_path)
    oauth.clear_cache()
    yield srv
    srv.close()
    oauth.clear_cache()


def get(server, **kw):
    kw.setdefault("authority", server.authority)
    kw.setdefault("scope", "https://outlook.office365.com/.default")
    kw.setdefault("ca_path", server.ca_path)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("timeout", 5)
    return oauth.get_access_token(kw.pop("tenant", "contoso-tenant"), kw.pop("client_id", "app-1"),
                                  kw.pop("secret", SECRET), **kw)


def test_token_request_shape_and_result(server):
    server.queue.append((200, {"access_token": "AT-1", "token_type": "Bearer", "expires_in": 3599}))
    clock = [1000000.0]
    token = get(server, now=lambda: clock[0])
    assert token == {"access_token": "AT-1", "token_type": "Bearer", "expires_in": 3599, "expires_at": 1003599}
    path, form = server.requests[0]
    assert path == "/contoso-tenant/oauth2/v2.0/token"
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["app-1"]
    assert form["client_secret"] == [SECRET]
    assert form["scope"] == ["https://outlook.office365.com/.default"]


def test_cached_until_shortly_before_expiry(server):
    server.queue.extend([(200, {"access_token": "AT-1", "expires_in": 3600}),
                         (200, {"access_token": "AT-2", "expires_in": 3600})])
    clock = [1000000.0]

    def now():
        return clock[0]

    assert get(server, now=now)["access_token"] == "AT-1"
    clock[0] += 3600 - oauth.EXPIRY_MARGIN - 1
    assert get(server, now=now)["access_token"] == "AT-1"
    assert len(server.requests) == 1
    clock[0] += 2
    assert get(server, now=now)["access_token"] == "AT-2"
    assert len(server.requests) == 2


def test_cache_is_per_secret(server):
    server.queue.extend([(200, {"access_token": "AT-1", "expires_in": 3600}),
                         (200, {"access_token": "AT-2", "expires_in": 3600})])
    assert get(server)["access_token"] == "AT-1"
    assert get(server, secret=SECRET + "-rotated")["access_token"] == "AT-2"


@pytest.mark.parametrize("code,words", [
    (7000215, "client secret is invalid"),
    (7000222, "client secret has expired"),
    (700016, "application (client_id) was not found"),
    (90002, "tenant was not found"),
])
def test_aadsts_errors_are_clear_and_not_retried(server, code, words):
    server.queue.append(aad_error(code, echo_secret=True))
    with pytest.raises(oauth.OAuthError) as err:
        get(server, retries=3)
    assert err.value.aadsts == code
    assert words in str(err.value)
    assert "AADSTS%d" % code in str(err.value)
    assert SECRET not in str(err.value)
    assert len(server.requests) == 1


def test_unknown_aadsts_keeps_the_description_without_secret(server):
    server.queue.append(aad_error(50999, echo_secret=True))
    with pytest.raises(oauth.OAuthError) as err:
        get(server)
    assert "AADSTS50999" in str(err.value) and "something went wrong" in str(err.value)
    assert SECRET not in str(err.value)


def test_5xx_retried_then_success(server):
    server.queue.extend([(503, {"error": "temporarily_unavailable"}), (500, {}),
                         (200, {"access_token": "AT-3", "expires_in": 60})])
    assert get(server, retries=2)["access_token"] == "AT-3"
    assert len(server.requests) == 3


def test_5xx_retries_are_bounded(server):
    server.queue.extend([(503, {})] * 5)
    with pytest.raises(oauth.OAuthError) as err:
        get(server, retries=1)
    assert "gave up after 2 attempts" in str(err.value)
    assert len(server.requests) == 2


def test_connection_refused_is_retried_and_reported():
    host = "127.0.0.%d" % random.randint(20, 250)
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    attempts = []
    with pytest.raises(oauth.OAuthError) as err:
        oauth.get_access_token("t", "c", SECRET, authority="https://%s:%d" % (host, port), scope="s",
                               retries=2, sleep=attempts.append, use_cache=False)
    assert "cannot reach the token endpoint" in str(err.value)
    assert "gave up after 3 attempts" in str(err.value)
    assert len(attempts) == 2


def test_timeout_is_reported(server):
    server.queue.extend([(200, {"access_token": "late"}, 1.5)])
    with pytest.raises(oauth.OAuthError) as err:
        get(server, timeout=0.3, retries=0)
    assert "no answer" in str(err.value) or "cannot reach" in str(err.value)


def test_untrusted_certificate_fails_without_retry(server):
    with pytest.raises(oauth.OAuthError) as err:
        get(server, ca_path=None, retries=3)
    assert "TLS" in str(err.value) and "ca_path" in str(err.value)
    assert server.requests == []


def test_validate_certs_false(server):
    server.queue.append((200, {"access_token": "AT-4", "expires_in": 60}))
    assert get(server, ca_path=None, validate_certs=False)["access_token"] == "AT-4"


def test_token_url_from_profiles():
    url, scope = oauth.token_url("contoso.onmicrosoft.com", profile="m365_gcc_high")
    assert url == "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert scope == "https://outlook.office365.us/.default"
    url, scope = oauth.token_url("t1", profile="m365")
    assert url == "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
    assert scope == "https://outlook.office365.com/.default"


@pytest.mark.parametrize("tenant", ["", "a/b", "x?y", "t\r\n"])
def test_bad_tenant_rejected(tenant):
    with pytest.raises(oauth.OAuthError):
        oauth.token_url(tenant)


def test_empty_secret_rejected_before_any_request():
    with pytest.raises(oauth.OAuthError) as err:
        oauth.get_access_token("t", "c", "", authority="https://127.0.0.1:9", scope="s")
    assert "client_secret is empty" in str(err.value)


def test_xoauth2_string():
    assert oauth.xoauth2_string("a@b.c", "TOK") == "user=a@b.c\x01auth=Bearer TOK\x01\x01"


def test_imports_on_python38(tmp_path):
    py38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")
    if not py38.exists():
        pytest.skip("no Python 3.8")
    root = tmp_path / "ac" / "ansible_collections" / "mailops"
    root.mkdir(parents=True)
    (root / "smtp").symlink_to(REPO)
    code = ("from ansible_collections.mailops.smtp.plugins.module_utils import oauth;"
            "print(oauth.token_url('t', 'm365')[0])")
    proc = subprocess.run([str(py38), "-c", code], env={"PYTHONPATH": str(tmp_path / "ac")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "https://login.microsoftonline.com/t/oauth2/v2.0/token"
