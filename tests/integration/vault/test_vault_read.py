# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""vault_credentials shared code against a real OpenBao: auth methods, KV engines, errors."""

from __future__ import annotations

import time

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_credentials import (
    fetch_credentials,
    store_credential,
)
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions


def make(vault, path, https=False, environ=None, warnings=None, **kw):
    kw.setdefault("mount", vault.info["kv2"])
    kw.setdefault("url", vault.addr_https if https else vault.addr_http)
    if https:
        kw.setdefault("ca_path", vault.ca_path)
    kw.setdefault("retries", 0)
    kw.setdefault("timeout", 5)
    kw.setdefault("auth", {"method": "token", "token_file": vault.info["read_token_file"]})
    sink = [] if warnings is None else warnings
    return VaultOptions(dict(kw, path=path), ACTION_SPEC, environ=environ or {}, warn=sink.append)


def fetch(vault, path, **kw):
    return fetch_credentials(make(vault, path, **kw))[0]


def token_accessors(vault):
    """Accessors of every live token; a login that does not revoke leaves one behind."""
    c = vault.client()
    return set(c.list("auth/token/accessors")["data"]["keys"])


# ---- engines ----------------------------------------------------------------------------

def test_kv2_basic_credential_with_metadata(vault):
    cred = fetch(vault, "smtp/basic")
    expected = vault.info["secrets_v2"]["smtp/basic"]
    assert cred["type"] == "basic"
    assert cred["username"] == expected["username"]
    assert cred["password"] == expected["password"]
    assert cred["vault"]["path"] == "smtp/basic"
    assert cred["vault"]["mount"] == vault.info["kv2"]
    assert cred["vault"]["kv_version"] == 2
    assert cred["vault"]["version"] == 1
    assert cred["vault"]["created_time"].startswith("20")
    assert set(cred) == {"type", "username", "password", "vault"}


def test_kv1_credential(vault):
    cred = fetch(vault, "smtp/basic", mount=vault.info["kv1"], kv_version=1)
    assert cred["password"] == vault.info["secrets_v1"]["smtp/basic"]["password"]
    assert cred["vault"] == {"path": "smtp/basic", "mount": vault.info["kv1"], "kv_version": 1,
                             "version": None, "created_time": None}


def test_oauth2_credential_detected(vault):
    cred = fetch(vault, "smtp/app")
    expected = vault.info["secrets_v2"]["smtp/app"]
    assert cred["type"] == "oauth2"
    for key in ("username", "tenant_id", "client_id", "client_secret"):
        assert cred[key] == expected[key]
    assert "password" not in cred


def test_both_field_sets_need_type(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/both")
    assert "type: basic or type: oauth2" in str(err.value)
    cred = fetch(vault, "smtp/both", type="oauth2")
    assert cred["type"] == "oauth2"
    assert cred["client_secret"] == vault.info["secrets_v2"]["smtp/both"]["client_secret"]


def test_field_renames(vault):
    cred = fetch(vault, "smtp/renamed", fields={"username": "login", "password": "app_password"})
    assert cred["password"] == vault.info["secrets_v2"]["smtp/renamed"]["app_password"]
    assert cred["username"] == "renamed@contoso.test"


def test_empty_field_named_without_value(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/empty", type="basic")
    msg = str(err.value)
    assert "password" in msg and "smtp/empty" in msg and "version 1" in msg


def test_version_pin(vault):
    cred = fetch(vault, "smtp/versioned", version=1)
    assert cred["password"] == vault.info["versioned"][0]["password"]
    assert cred["vault"]["version"] == 1


def test_soft_deleted_latest_names_version_to_pin(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/versioned")
    msg = str(err.value)
    assert "version 3" in msg and "deleted" in msg and "version: 2" in msg
    for data in vault.info["versioned"]:
        assert data["password"] not in msg


def test_destroyed_latest_names_version_to_pin(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/destroyed")
    msg = str(err.value)
    assert "version 2" in msg and "destroyed" in msg and "version: 1" in msg
    assert fetch(vault, "smtp/destroyed", version=1)["password"] == vault.info["destroyed"][0]["password"]


def test_pinned_missing_version(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", version=9)
    assert "version 9" in str(err.value) and "does not exist" in str(err.value)


def test_404_path(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/nope")
    assert "404" in str(err.value) and "smtp/nope" in str(err.value)


def test_policy_token_refused_elsewhere(vault):
    # The same token reads smtp/* fine and is refused outside it.
    assert fetch(vault, "smtp/basic")["type"] == "basic"
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "other/secret")
    msg = str(err.value)
    assert "403" in msg and "permission denied" in msg and "other/secret" in msg
    assert vault.info["secrets_v2"]["other/secret"]["password"] not in msg


# ---- auth methods -----------------------------------------------------------------------

def test_token_from_environment_at_lowest_precedence(vault, tmp_path):
    token = open(vault.info["read_token_file"]).read().strip()
    cred = fetch(vault, "smtp/basic", auth={}, environ={"BAO_TOKEN": token})
    assert cred["type"] == "basic"
    # An explicit (bad) token wins over the environment.
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", auth={"token": "s.not-a-token"}, environ={"VAULT_TOKEN": token})
    assert "403" in str(err.value)
    assert "s.not-a-token" not in str(err.value)


def test_token_from_home_vault_token(vault, tmp_path):
    (tmp_path / ".vault-token").write_text(open(vault.info["read_token_file"]).read())
    cred = fetch(vault, "smtp/basic", auth={}, environ={"HOME": str(tmp_path)})
    assert cred["type"] == "basic"


def test_url_from_environment(vault):
    opts = make(vault, "smtp/basic", url=None, environ={"BAO_ADDR": vault.addr_http})
    assert fetch_credentials(opts)[0]["type"] == "basic"


def test_approle_login_revokes_its_token(vault):
    before = token_accessors(vault)
    cred = fetch(vault, "smtp/basic", auth={"method": "approle", "mount": vault.info["approle_mount"],
                                            "role_id": vault.info["role_id"],
                                            "secret_id": vault.new_secret_id()})
    assert cred["password"] == vault.info["secrets_v2"]["smtp/basic"]["password"]
    assert token_accessors(vault) == before


def test_approle_wrapped_secret_id_unwraps_once(vault):
    wrapped = vault.new_secret_id(wrap_ttl="5m")
    auth = {"method": "approle", "mount": vault.info["approle_mount"], "role_id": vault.info["role_id"],
            "secret_id": wrapped, "secret_id_wrapped": True}
    assert fetch(vault, "smtp/basic", auth=auth)["type"] == "basic"
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", auth=auth)
    assert "already" in str(err.value) and "run_once" in str(err.value)
    assert wrapped not in str(err.value)


def test_approle_bad_secret_id(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", auth={"method": "approle", "mount": vault.info["approle_mount"],
                                         "role_id": vault.info["role_id"], "secret_id": "wrong-secret-id-xyz"})
    assert "log in with auth method approle" in str(err.value)
    assert "wrong-secret-id-xyz" not in str(err.value)


def test_userpass_login(vault):
    before = token_accessors(vault)
    cred = fetch(vault, "smtp/app", auth={"method": "userpass", "mount": vault.info["userpass_mount"],
                                          "username": "mailer", "password": vault.info["userpass_password"]})
    assert cred["type"] == "oauth2"
    assert token_accessors(vault) == before


def test_jwt_login(vault):
    before = token_accessors(vault)
    cred = fetch(vault, "smtp/basic", auth={"method": "jwt", "mount": vault.info["jwt_mount"],
                                            "role": "mailer", "jwt": vault.sign_jwt()})
    assert cred["type"] == "basic"
    assert token_accessors(vault) == before


def test_jwt_wrong_audience_refused(vault):
    token = vault.sign_jwt(audience="someone-else")
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", auth={"method": "jwt", "mount": vault.info["jwt_mount"],
                                         "role": "mailer", "jwt": token})
    assert "log in with auth method jwt" in str(err.value)
    assert token not in str(err.value)


def test_cert_login_over_https(vault):
    before = token_accessors(vault)
    cred = fetch(vault, "smtp/basic", https=True,
                 auth={"method": "cert", "mount": vault.info["cert_mount"], "role": "mailer",
                       "cert_path": vault.info["client_cert"], "key_path": vault.info["client_key"]})
    assert cred["type"] == "basic"
    assert token_accessors(vault) == before


# ---- connection -------------------------------------------------------------------------

def test_https_with_ca_path(vault):
    assert fetch(vault, "smtp/basic", https=True)["type"] == "basic"


def test_https_without_ca_is_refused(vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", https=True, ca_path=None)
    assert "TLS" in str(err.value) and "ca_path" in str(err.value)


def test_https_ca_from_environment(vault):
    opts = make(vault, "smtp/basic", https=True, ca_path=None, environ={"VAULT_CACERT": vault.ca_path})
    assert fetch_credentials(opts)[0]["type"] == "basic"


def test_skip_verify_env_warns(vault):
    warnings = []
    opts = make(vault, "smtp/basic", https=True, ca_path=None, environ={"VAULT_SKIP_VERIFY": "true"},
                warnings=warnings)
    assert fetch_credentials(opts)[0]["type"] == "basic"
    assert any("NOT verified" in w for w in warnings)


def test_unreachable(vault, closed_port_url):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", url=closed_port_url, retries=1)
    assert "cannot connect" in str(err.value) and closed_port_url in str(err.value)


def test_sealed(vault, sealed_vault):
    with pytest.raises(VaultCredentialError) as err:
        fetch(vault, "smtp/basic", url=sealed_vault, retries=1)
    assert "sealed" in str(err.value) and "unseal" in str(err.value)


# ---- writing ----------------------------------------------------------------------------

def _rotate_opts(vault, data, check=False, **kw):
    kw.setdefault("auth", {"token": vault.info["rotate_token"]})
    return make(vault, kw.pop("path", "smtp/rotate"), state="present", data=data, **kw)


def test_write_kv2_changed_only_when_different_and_check_mode(vault):
    data = {"username": "rotate@contoso.test", "password": "Rotate-PW-1"}
    first = store_credential(_rotate_opts(vault, data, cas=0), check_mode=True)
    assert first["changed"] is True
    # Check mode wrote nothing.
    with pytest.raises(VaultCredentialError):
        fetch(vault, "smtp/rotate")
    written = store_credential(_rotate_opts(vault, data, cas=0))
    assert written == {"changed": True, "vault": dict(written["vault"], version=1)}
    again = store_credential(_rotate_opts(vault, data, cas=1))
    assert again["changed"] is False and again["vault"]["version"] == 1
    new = {"username": "rotate@contoso.test", "password": "Rotate-PW-2"}
    assert store_credential(_rotate_opts(vault, new, cas=1), check_mode=True)["changed"] is True
    assert fetch(vault, "smtp/rotate")["password"] == "Rotate-PW-1"
    with pytest.raises(VaultCredentialError) as err:
        store_credential(_rotate_opts(vault, new, cas=5))
    assert "cas 5" in str(err.value) and "Rotate-PW-2" not in str(err.value)
    done = store_credential(_rotate_opts(vault, new, cas=1))
    assert done["changed"] is True and done["vault"]["version"] == 2
    assert fetch(vault, "smtp/rotate")["password"] == "Rotate-PW-2"


def test_write_kv1(vault):
    data = {"username": "rotate1@contoso.test", "password": "Rotate1-PW"}
    opts = _rotate_opts(vault, data, mount=vault.info["kv1"], kv_version=1)
    assert store_credential(opts)["changed"] is True
    assert store_credential(opts)["changed"] is False
    assert fetch(vault, "smtp/rotate", mount=vault.info["kv1"], kv_version=1)["password"] == "Rotate1-PW"


def test_write_refused_by_policy(vault):
    with pytest.raises(VaultCredentialError) as err:
        store_credential(_rotate_opts(vault, {"username": "x", "password": "Refused-PW"},
                                      auth={"token_file": vault.info["read_token_file"]}, path="smtp/rotate-x"))
    assert "403" in str(err.value) and "Refused-PW" not in str(err.value)


def test_several_paths_one_login(vault):
    offset = vault.audit_offset()
    opts = make(vault, "smtp/basic", auth={"method": "approle", "mount": vault.info["approle_mount"],
                                           "role_id": vault.info["role_id"], "secret_id": vault.new_secret_id()})
    offset = vault.audit_offset()
    creds = fetch_credentials(opts, ["smtp/basic", "smtp/app"])
    assert [c["type"] for c in creds] == ["basic", "oauth2"]
    time.sleep(0.2)
    paths = [p for _op, p in vault.audit_requests(offset)]
    kv2 = vault.info["kv2"]
    assert paths == ["auth/%s/login" % vault.info["approle_mount"], "%s/data/smtp/basic" % kv2,
                     "%s/data/smtp/app" % kv2, "auth/token/revoke-self"]


# ---- access tokens ----------------------------------------------------------------------

def test_oauth2_credential_with_access_token(vault, token_endpoint):
    cred = fetch(vault, "smtp/app", fetch_access_token=True, oauth_authority=token_endpoint["authority"],
                 oauth_scope="https://outlook.office365.com/.default", oauth_ca_path=vault.ca_path)
    expected = vault.info["secrets_v2"]["smtp/app"]
    assert cred["access_token"] == "AT-" + expected["client_id"]
    assert cred["expires_at"] > time.time() + 3000
    path, form = token_endpoint["seen"][0]
    assert path == "/%s/oauth2/v2.0/token" % expected["tenant_id"]
    assert form["scope"] == ["https://outlook.office365.com/.default"]
