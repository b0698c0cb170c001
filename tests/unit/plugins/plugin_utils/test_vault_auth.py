# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Auth methods and the login/revoke session, against the scripted stand-in."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils import _vault_auth
from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_token import TokenAuth
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions

LOGIN = (200, {"auth": {"client_token": "hvs.created-by-login", "accessor": "a"}})
REVOKED = (204, {})


def make(url="http://127.0.0.1:1", environ=None, warnings=None, **auth):
    sink = [] if warnings is None else warnings
    return VaultOptions({"path": "smtp/x", "url": url, "retries": 0, "timeout": 5, "auth": auth}, ACTION_SPEC,
                        environ=environ or {}, warn=sink.append)


def test_token_precedence(tmp_path):
    token_file = tmp_path / "tok"
    token_file.write_text("hvs.from-file\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vault-token").write_text("hvs.from-home")
    env = {"VAULT_TOKEN": "hvs.vault-env", "BAO_TOKEN": "hvs.bao-env", "HOME": str(home)}
    assert TokenAuth(make(environ=env, token="hvs.opt", token_file=str(token_file))).resolve_token() == "hvs.opt"
    assert TokenAuth(make(environ=env, token_file=str(token_file))).resolve_token() == "hvs.from-file"
    assert TokenAuth(make(environ=env)).resolve_token() == "hvs.vault-env"
    assert TokenAuth(make(environ={"BAO_TOKEN": "hvs.bao-env", "HOME": str(home)})).resolve_token() == "hvs.bao-env"
    assert TokenAuth(make(environ={"HOME": str(home)})).resolve_token() == "hvs.from-home"


def test_no_token_anywhere(tmp_path):
    with pytest.raises(VaultCredentialError) as err:
        _vault_auth.authenticator(make(environ={"HOME": str(tmp_path)}))
    assert "no Vault token" in str(err.value) and "VAULT_TOKEN" in str(err.value)


def test_unreadable_token_file(tmp_path):
    with pytest.raises(VaultCredentialError) as err:
        _vault_auth.authenticator(make(token_file=str(tmp_path / "missing")))
    assert "auth.token_file" in str(err.value)


@pytest.mark.parametrize("auth,words", [
    ({"method": "approle"}, "auth.role_id"),
    ({"method": "userpass", "username": "u"}, "auth.password"),
    ({"method": "jwt", "role": "r"}, "auth.jwt"),
    ({"method": "cert"}, "auth.cert_path"),
])
def test_required_auth_fields(auth, words):
    with pytest.raises(VaultCredentialError) as err:
        _vault_auth.authenticator(make(**auth))
    assert words in str(err.value)


def test_cert_needs_https(tmp_path):
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    with pytest.raises(VaultCredentialError) as err:
        _vault_auth.authenticator(make(method="cert", cert_path=str(tmp_path / "c.pem"),
                                       key_path=str(tmp_path / "k.pem")))
    assert "https://" in str(err.value)


@pytest.mark.parametrize("auth,login_path,body_keys", [
    ({"method": "approle", "role_id": "rid", "secret_id": "sid"}, "/v1/auth/approle/login",
     {"role_id", "secret_id"}),
    ({"method": "approle", "mount": "ci/approle", "role_id": "rid", "secret_id": "sid"},
     "/v1/auth/ci/approle/login", {"role_id", "secret_id"}),
    ({"method": "userpass", "username": "mailer", "password": "pw"}, "/v1/auth/userpass/login/mailer",
     {"password"}),
    ({"method": "jwt", "role": "ci", "jwt": "eyJ.x.y"}, "/v1/auth/jwt/login", {"role", "jwt"}),
])
def test_login_then_revoke_self(stub_vault, auth, login_path, body_keys):
    stub_vault.queue.extend([LOGIN, REVOKED])
    with _vault_auth.vault_session(make(stub_vault.url, **auth)) as client:
        assert client.token == "hvs.created-by-login"
    login, revoke = stub_vault.requests
    assert login["path"] == login_path and set(json.loads(login["body"])) == body_keys
    assert revoke["path"] == "/v1/auth/token/revoke-self" and revoke["token"] == "hvs.created-by-login"


def test_wrapped_secret_id_is_unwrapped_with_its_own_token(stub_vault):
    stub_vault.queue.extend([(200, {"data": {"secret_id": "real-sid"}}), LOGIN, REVOKED])
    auth = {"method": "approle", "role_id": "rid", "secret_id": "hvs.wrapping", "secret_id_wrapped": True}
    with _vault_auth.vault_session(make(stub_vault.url, **auth)):
        pass
    unwrap, login, _revoke = stub_vault.requests
    assert unwrap["path"] == "/v1/sys/wrapping/unwrap" and unwrap["token"] == "hvs.wrapping"
    assert json.loads(login["body"])["secret_id"] == "real-sid" and login["token"] is None


def test_used_wrapping_token(stub_vault):
    stub_vault.queue.append((400, {"errors": ["wrapping token is not valid or does not exist"]}))
    auth = {"method": "approle", "role_id": "rid", "secret_id": "hvs.wrapping", "secret_id_wrapped": True}
    with pytest.raises(VaultCredentialError) as err:
        with _vault_auth.vault_session(make(stub_vault.url, **auth)):
            pass
    assert "run_once" in str(err.value) and "hvs.wrapping" not in str(err.value)


def test_supplied_token_is_not_revoked(stub_vault):
    with _vault_auth.vault_session(make(stub_vault.url, token="hvs.mine")) as client:
        assert client.token == "hvs.mine"
    assert stub_vault.requests == []


def test_failed_revoke_is_a_warning(stub_vault):
    warnings = []
    stub_vault.queue.extend([LOGIN, (403, {"errors": ["permission denied"]})])
    with _vault_auth.vault_session(make(stub_vault.url, warnings=warnings, method="userpass", username="u",
                                        password="pw")):
        pass
    assert len(warnings) == 1 and "could not revoke" in warnings[0]


def test_failed_login_is_translated(stub_vault):
    stub_vault.queue.append((400, {"errors": ["invalid username or password"]}))
    with pytest.raises(VaultCredentialError) as err:
        with _vault_auth.vault_session(make(stub_vault.url, method="userpass", username="u", password="PW-xyz")):
            pass
    assert "log in with auth method userpass at auth/userpass" in str(err.value)
    assert "invalid username or password" in str(err.value) and "PW-xyz" not in str(err.value)


def test_revoke_after_read_failure(stub_vault):
    stub_vault.queue.extend([LOGIN, REVOKED])
    with pytest.raises(RuntimeError):
        with _vault_auth.vault_session(make(stub_vault.url, method="userpass", username="u", password="p")):
            raise RuntimeError("read failed")
    assert stub_vault.requests[-1]["path"] == "/v1/auth/token/revoke-self"
