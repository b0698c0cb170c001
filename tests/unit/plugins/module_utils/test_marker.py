# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift marker's two generations: old (credential and version) and new (with the auth method)."""

import json

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _marker
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine

VAULT = {"vault": {"mount": "secret", "path": "smtp/app", "version": 4}}
BASIC = dict(VAULT, username="u@example.com", password="pw")
OAUTH2 = dict(VAULT, type="oauth2", username="u@example.com", tenant_id="t", client_id="c", client_secret="s")

OLD = "# managed by mailops.smtp: credential secret/smtp/app version 4\n"
NEW = "# managed by mailops.smtp: credential secret/smtp/app version 4 auth xoauth2\n"


@pytest.mark.parametrize("credential,options,smtp,want", [
    (BASIC, None, None, "basic"),
    (OAUTH2, None, None, "xoauth2"),
    ({"username": "u", "client_id": "c", "client_secret": "s", "tenant_id": "t"}, {}, None, "xoauth2"),
    (BASIC, {}, {"mechanism": "xoauth2"}, "xoauth2"),
    (OAUTH2, {}, {"mechanism": "login"}, "basic"),
    (None, {"mode": "via_relay"}, None, "via_relay"),
    (BASIC, {"mode": "via_relay"}, None, "via_relay"),
    (None, {"mode": "connector"}, None, "connector"),
    (BASIC, {"mode": "relay"}, None, "basic"),
    (None, None, None, "none"),
])
def test_the_method_comes_from_the_credential_kind_and_the_mode(credential, options, smtp, want):
    assert _marker.auth_method(credential, options, smtp) == want


def test_a_known_relay_upstream_is_recorded_with_via_relay():
    assert _marker.auth_method(None, {"mode": "via_relay"}, relay_upstream="xoauth2") == "via_relay+xoauth2"
    assert _marker.split_method("via_relay+connector") == ("via_relay", "connector")
    assert _marker.split_method("basic") == ("basic", None)
    assert _marker.split_method(None) == (None, None)
    assert _marker.split_method("something-else") == (None, None)


def test_the_new_marker_keeps_credential_and_version_first():
    assert _marker.text(OAUTH2, "xoauth2") + "\n" == NEW[2:]
    assert _marker.text(OAUTH2) + "\n" == OLD[2:]
    with pytest.raises(ValueError):
        _marker.text(OAUTH2, "plain")


def test_old_and_new_markers_give_the_same_credential_and_version():
    old, new = _marker.parse(OLD), _marker.parse(NEW)
    assert old == {"credential": "secret/smtp/app", "version": "4"}
    assert new == {"credential": "secret/smtp/app", "version": "4", "auth": "xoauth2"}
    # What the rotation compares (_rotation_apps reads credential and version only).
    assert (old["credential"], old["version"]) == (new["credential"], new["version"])


def test_markers_in_other_comment_styles_and_an_unknown_auth_word():
    assert _marker.parse("; managed by mailops.smtp: credential kv/a version 2 auth basic\r\n[x]\n") == {
        "credential": "kv/a", "version": "2", "auth": "basic"}
    assert _marker.parse("// managed by mailops.smtp: credential none version none auth via_relay+xoauth2") == {
        "credential": "none", "version": "none", "auth": "via_relay+xoauth2"}
    # A word the marker does not know is ignored, not taken for a method.
    assert _marker.parse("# managed by mailops.smtp: credential kv/a version 2 auth what") == {
        "credential": "kv/a", "version": "2"}


def test_sidecars_old_and_new():
    old = json.dumps({"managed_by": "mailops.smtp", "credential": "secret/smtp/app", "version": "4"})
    assert _marker.parse_sidecar(old) == {"credential": "secret/smtp/app", "version": "4"}
    new = _marker.sidecar_content(BASIC, "basic")
    assert json.loads(new)["auth"] == "basic"
    assert _marker.parse_sidecar(new) == {"credential": "secret/smtp/app", "version": "4", "auth": "basic"}


def test_the_settings_engine_writes_the_method_it_writes_for(tmp_path):
    f = tmp_path / "msmtprc"
    params = {"preset": "msmtp", "path": str(f), "credential": OAUTH2, "smtp": {"profile": "m365"},
              "options": {"token_file": "/var/lib/mailops-smtp/t.token"}}
    assert engine.marker_text(params).endswith("version 4 auth xoauth2")
    relay = dict(params, options={"mode": "via_relay"})
    # via_relay writes no credential: the marker says so and names the way.
    assert engine.marker_text(engine.without_unused_credential(relay)).endswith(
        "credential none version none auth via_relay")
