# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared option adapter: validation, environment fallbacks, secret hygiene."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import (
    ACTION_SPEC,
    LOOKUP_SPEC,
    VaultOptions,
)


def make(environ=None, warnings=None, spec=None, **kw):
    spec = ACTION_SPEC if spec is None else spec
    kw.setdefault("path", "smtp/x")
    sink = [] if warnings is None else warnings
    return VaultOptions(kw, spec, environ=environ or {}, warn=sink.append)


def test_defaults():
    o = make(url="http://127.0.0.1:8200")
    assert (o.get("mount"), o.get("kv_version"), o.get("type"), o.get("timeout"), o.get("retries")) == \
        ("secret", 2, "auto", 10, 3)
    assert o.get("validate_certs") is True
    assert o.auth("method") == "token"
    assert o.get("state") == "read"


@pytest.mark.parametrize("environ,expected", [
    ({"VAULT_ADDR": "http://127.0.0.2:1", "BAO_ADDR": "http://127.0.0.3:1"}, "http://127.0.0.2:1"),
    ({"BAO_ADDR": "http://127.0.0.3:1"}, "http://127.0.0.3:1"),
])
def test_url_from_environment(environ, expected):
    assert make(environ=environ).get("url") == expected


def test_option_beats_environment():
    env = {"VAULT_ADDR": "http://127.0.0.2:1", "VAULT_NAMESPACE": "env-ns", "VAULT_CACERT": "/env/ca.pem"}
    o = make(environ=env, url="http://127.0.0.9:1", namespace="opt-ns", ca_path="/opt/ca.pem")
    assert (o.get("url"), o.get("namespace"), o.get("ca_path")) == ("http://127.0.0.9:1", "opt-ns", "/opt/ca.pem")
    o = make(environ=env)
    assert (o.get("namespace"), o.get("ca_path")) == ("env-ns", "/env/ca.pem")
    o = make(environ={"BAO_NAMESPACE": "bao-ns", "BAO_CACERT": "/bao/ca.pem", "BAO_ADDR": "http://127.0.0.1:1"})
    assert (o.get("namespace"), o.get("ca_path")) == ("bao-ns", "/bao/ca.pem")


@pytest.mark.parametrize("name", ["VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"])
def test_skip_verify_env_warns(name):
    warnings = []
    o = make(environ={name: "1"}, warnings=warnings, url="https://127.0.0.1:1")
    assert o.get("validate_certs") is False
    assert len(warnings) == 1 and "NOT verified" in warnings[0]


def test_explicit_validate_certs_beats_skip_verify():
    warnings = []
    o = make(environ={"VAULT_SKIP_VERIFY": "true"}, warnings=warnings, url="https://127.0.0.1:1",
             validate_certs=True)
    assert o.get("validate_certs") is True and warnings == []


def test_skip_verify_false_keeps_verification():
    assert make(environ={"VAULT_SKIP_VERIFY": "false"}, url="https://127.0.0.1:1").get("validate_certs") is True


@pytest.mark.parametrize("kw,words", [
    ({}, "VAULT_ADDR"),
    ({"url": "127.0.0.1:8200"}, "http://"),
    ({"url": "http://127.0.0.1:1", "retries": 11}, "retries"),
    ({"url": "http://127.0.0.1:1", "retries": -1}, "retries"),
    ({"url": "http://127.0.0.1:1", "timeout": 0}, "timeout"),
    ({"url": "http://127.0.0.1:1", "kv_version": 1, "version": 2}, "KV v2"),
    ({"url": "http://127.0.0.1:1", "version": 0}, "version"),
    ({"url": "http://127.0.0.1:1", "kv_version": 3}, "kv_version"),
    ({"url": "http://127.0.0.1:1", "auth": {"method": "ldap"}}, "method"),
    ({"url": "http://127.0.0.1:1", "bogus": 1}, "bogus"),
    ({"url": "http://127.0.0.1:1", "state": "present"}, "data"),
])
def test_invalid_options(kw, words):
    with pytest.raises(VaultCredentialError) as err:
        make(**kw)
    assert words in str(err.value)


def test_lookup_spec_has_no_write_options():
    with pytest.raises(VaultCredentialError):
        make(spec=LOOKUP_SPEC, url="http://127.0.0.1:1", state="present")


def test_secret_values_stay_out_of_errors_and_repr():
    with pytest.raises(VaultCredentialError) as err:
        make(url="http://127.0.0.1:1", auth={"token": "hvs.TOPSECRET", "password": "PW-TOPSECRET", "nope": 1})
    assert "TOPSECRET" not in str(err.value)
    o = make(url="http://127.0.0.1:1", auth={"token": "hvs.TOPSECRET"}, data={"password": "PW-TOPSECRET"})
    assert "TOPSECRET" not in repr(o)


def test_with_path_copies():
    o = make(url="http://127.0.0.1:1")
    other = o.with_path("smtp/y")
    assert (o.get("path"), other.get("path"), other.get("url")) == ("smtp/x", "smtp/y", "http://127.0.0.1:1")


class FakePlugin:
    def __init__(self, values):
        self.values = values

    def get_option(self, name):
        if name not in self.values:
            raise KeyError(name)
        return self.values[name]


def test_from_plugin_reads_get_option():
    plugin = FakePlugin({"url": "http://127.0.0.1:1", "mount": "kv", "version": None, "auth": {"method": "token"}})
    o = VaultOptions.from_plugin(plugin, LOOKUP_SPEC, environ={}, extra={"path": "smtp/z"})
    assert (o.get("url"), o.get("mount"), o.get("path"), o.get("version")) == ("http://127.0.0.1:1", "kv",
                                                                               "smtp/z", None)


class _NoDeepcopy(dict):
    """Stands in for ansible-core 2.21's lazy template dict, whose deep copy prints deprecation warnings."""

    def __deepcopy__(self, memo):
        raise AssertionError("the options were deep-copied as given")


def test_options_are_validated_as_plain_containers():
    auth = _NoDeepcopy(method="token", token_file="/tmp/t")
    o = make(url="http://127.0.0.1:8200", auth=auth)
    assert (o.auth("method"), o.auth("token_file")) == ("token", "/tmp/t")
