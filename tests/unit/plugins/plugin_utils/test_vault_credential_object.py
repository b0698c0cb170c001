# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credential objects, unsafe marking, access tokens and error translation."""

from __future__ import annotations

import pytest
import requests
from hvac import exceptions as hvac_exc

from ansible.template import Templar, trust_as_template

from ansible_collections.mailops.smtp.plugins.plugin_utils import _vault_credentials as vc
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError, translate
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions

META = {"version": 3, "created_time": "2026-01-01T00:00:00Z"}
APP = {"username": "app@x.test", "tenant_id": "t1", "client_id": "c1", "client_secret": "CS-TOPSECRET"}


def make(warnings=None, **kw):
    sink = [] if warnings is None else warnings
    kw.setdefault("path", "smtp/x")
    return VaultOptions(dict(kw, url="http://127.0.0.1:1"), ACTION_SPEC, environ={}, warn=sink.append)


def test_basic_object_shape():
    cred = vc.build_credential({"username": "u@x.test", "password": "PW", "extra": "ignored"}, META, make())
    assert cred == {"type": "basic", "username": "u@x.test", "password": "PW",
                    "vault": {"path": "smtp/x", "mount": "secret", "kv_version": 2, "version": 3,
                              "created_time": "2026-01-01T00:00:00Z"}}


def test_oauth2_object_shape():
    cred = vc.build_credential(dict(APP), META, make())
    assert cred["type"] == "oauth2"
    assert {k: cred[k] for k in APP} == APP and "password" not in cred


def test_non_string_values_become_text():
    cred = vc.build_credential({"username": "u", "password": 12345}, META, make())
    assert cred["password"] == "12345"


@pytest.mark.parametrize("data,kw,words", [
    ({"username": "u", "password": "PW-TOPSECRET", **APP}, {}, "type: basic or type: oauth2"),
    ({"username": "u"}, {}, "neither field 'password'"),
    ({"username": "", "password": "PW-TOPSECRET"}, {}, "field(s) username missing or empty"),
    ({"username": "u", "password": "   "}, {"type": "basic"}, "field(s) password missing"),
    ({"username": "u", "client_id": "c", "client_secret": "CS-TOPSECRET"}, {}, "field(s) tenant_id"),
    ({"tenant_id": "t", "client_id": "c", "client_secret": "CS-TOPSECRET"}, {}, "username"),
    ({"username": "u", "password": "PW-TOPSECRET"}, {"type": "oauth2"}, "tenant_id, client_id, client_secret"),
    ({"username": "u", "password": "PW-TOPSECRET"}, {"fields": {"secret": "x"}}, "unknown field name(s) secret"),
])
def test_layout_errors_name_fields_path_version_never_values(data, kw, words):
    with pytest.raises(VaultCredentialError) as err:
        vc.build_credential(data, META, make(**kw))
    msg = str(err.value)
    assert words in msg
    assert "TOPSECRET" not in msg
    if "unknown field" not in words:
        assert "secret/smtp/x" in msg and "version 3" in msg


def test_renamed_fields_are_named_in_errors():
    with pytest.raises(VaultCredentialError) as err:
        vc.build_credential({"login": "u"}, META, make(type="basic", fields={"username": "login",
                                                                             "password": "app_password"}))
    assert "app_password" in str(err.value)


def test_explicit_type_picks_a_field_set():
    data = {"username": "u", "password": "PW", **APP}
    assert vc.build_credential(data, META, make(type="basic"))["type"] == "basic"
    assert vc.build_credential(data, META, make(type="oauth2"))["client_secret"] == "CS-TOPSECRET"


def test_fetch_marks_values_unsafe(monkeypatch):
    class Session:
        def __enter__(self):
            return object()

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(vc, "vault_session", lambda options: Session())
    # Even a value that arrived trusted for templating must come out inert.
    monkeypatch.setattr(vc, "read_secret", lambda client, options: (
        {"username": "u", "password": trust_as_template("{{ 40 + 2 }}")}, META))
    templar = Templar()
    assert templar.template(trust_as_template("{{ 40 + 2 }}")) == 42  # the control: trusted text is evaluated
    cred = vc.fetch_credentials(make())[0]
    assert templar.template(cred)["password"] == "{{ 40 + 2 }}"


def test_access_token_added_for_oauth2(monkeypatch):
    calls = []

    def fake(tenant, client_id, secret, **kw):
        calls.append((tenant, client_id, secret, kw))
        return {"access_token": "AT", "expires_at": 1790000000, "expires_in": 3600, "token_type": "Bearer"}

    monkeypatch.setattr(vc, "get_access_token", fake)
    cred = vc.build_credential(dict(APP), META, make())
    opts = make(profile="m365_gcc_high", oauth_ca_path="/lab/ca.pem", fetch_access_token=True)
    vc.add_access_token(cred, opts)
    assert cred["access_token"] == "AT" and cred["expires_at"] == 1790000000
    tenant, client_id, secret, kw = calls[0]
    assert (tenant, client_id, secret) == ("t1", "c1", "CS-TOPSECRET")
    assert kw["profile"] == "m365_gcc_high" and kw["ca_path"] == "/lab/ca.pem"


def test_access_token_error_is_wrapped(monkeypatch):
    from ansible_collections.mailops.smtp.plugins.module_utils.oauth import OAuthError

    def fake(*a, **kw):
        raise OAuthError("token request failed (AADSTS7000222): the client secret has expired", aadsts=7000222)

    monkeypatch.setattr(vc, "get_access_token", fake)
    cred = vc.build_credential(dict(APP), META, make())
    with pytest.raises(VaultCredentialError) as err:
        vc.add_access_token(cred, make(fetch_access_token=True))
    assert "AADSTS7000222" in str(err.value) and "secret/smtp/x" in str(err.value)


def test_access_token_is_a_quiet_no_op_for_basic():
    # Roles ask for a token without knowing the secret's type; a basic credential needs none.
    warnings = []
    cred = vc.build_credential({"username": "u", "password": "PW"}, META, make())
    vc.add_access_token(cred, make(warnings=warnings, fetch_access_token=True))
    assert "access_token" not in cred and cred["password"] == "PW" and warnings == []


def _vault_error(klass, errors):
    return klass(message="; ".join(errors), errors=errors, method="get", url="http://127.0.0.1:1/v1/x")


@pytest.mark.parametrize("exc,words", [
    (_vault_error(hvac_exc.Forbidden, ["1 error occurred:\n\t* permission denied\n\n"]),
     "permission denied (HTTP 403)"),
    (_vault_error(hvac_exc.InvalidPath, []), "HTTP 404"),
    (_vault_error(hvac_exc.VaultDown, ["Vault is sealed"]), "unseal"),
    (_vault_error(hvac_exc.RateLimitExceeded, []), "HTTP 429"),
    (_vault_error(hvac_exc.InvalidRequest, ["invalid role ID"]), "HTTP 400): invalid role ID"),
    (_vault_error(hvac_exc.Unauthorized, ["bad token"]), "HTTP 401"),
    (requests.exceptions.SSLError("cert verify failed"), "ca_path"),
    (requests.exceptions.ConnectTimeout("slow"), "did not answer in time"),
    (requests.exceptions.ReadTimeout("slow"), "raise timeout or retries"),
    (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "connection refused"),
    (ValueError("boom"), "unexpected ValueError"),
])
def test_translate(exc, words):
    out = translate(exc, "read secret/smtp/x (KV v2)", "http://127.0.0.1:1")
    assert isinstance(out, VaultCredentialError)
    assert words in str(out)
