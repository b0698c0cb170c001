# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe module run in-process, as ansible-core unit tests do: argument handling and the result's shape."""

from __future__ import annotations

import socket

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.smtp.plugins.modules import probe

SECRET = "Very-Secret-Password-0042"


class ModuleExit(Exception):
    def __init__(self, failed, kwargs):
        super().__init__(kwargs.get("msg", ""))
        self.failed = failed
        self.result = kwargs


@pytest.fixture
def run(monkeypatch):
    def exit_json(self, **kwargs):
        raise ModuleExit(False, kwargs)

    def fail_json(self, **kwargs):
        raise ModuleExit(True, kwargs)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def _run(args, check_mode=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        with patch_module_args(args):
            with pytest.raises(ModuleExit) as exc:
                probe.main()
        return exc.value
    return _run


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent_listener():
    """Accepts TCP and says nothing: enough for stop_after: connect."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("args,fragment", [
    ({"ports": [0]}, "outside 1-65535"),
    ({"ports": [65536]}, "outside 1-65535"),
    ({"ports": ["587x"]}, "'587x' is not a port number"),
    ({"auth": {"username": "u@contoso.com", "password": SECRET, "access_token": SECRET + "t"}},
     "mutually exclusive"),
    ({"send": {"from": "u@contoso.com", "to": ["o@contoso.com"]}}, "send needs auth"),
    ({"helo": "x\r\nRSET"}, "helo must not contain CR, LF or NUL"),
    ({"auth": {"username": "u@contoso.com\nRSET", "password": SECRET}}, "must not contain CR, LF or NUL"),
    ({"send": {"from": "a@b.c\nRCPT TO:<x@y>", "to": ["o@contoso.com"]},
      "auth": {"username": "u@contoso.com", "password": SECRET}}, "send.from must not contain"),
    ({"send": {"from": "a@b.c", "to": ["o@contoso.com\r\nDATA"]},
      "auth": {"username": "u@contoso.com", "password": SECRET}}, "send.to must not contain"),
    ({"profile": "m365_connector"}, "needs host"),
    ({"endpoint": "m365", "profile": "m365_dod"}, "mutually exclusive: endpoint|profile"),
    ({"endpoint": {"profile": "custom", "host": "127.0.0.1"}, "ports": [25]}, "mutually exclusive: endpoint|ports"),
    ({"endpoint": {"profile": "m365", "tls": True}}, "endpoint: unknown key(s) tls"),
])
def test_bad_input_fails_cleanly(run, args, fragment):
    out = run(args)
    assert out.failed is True
    assert fragment in out.result["msg"]
    assert "Traceback" not in out.result["msg"]
    assert SECRET not in repr(out.result)
    assert out.result.get("changed", False) is False


def test_refused_port_fails_with_the_full_result(run):
    port = closed_port()
    out = run({"profile": "custom", "host": "127.0.0.1", "ports": [port], "helo": "probe.test"})
    assert out.failed is True and out.result["changed"] is False
    res = out.result
    assert res["ok"] is False and "SMTP probe failed" in res["msg"]
    port_res = res["ports"][str(port)]
    assert set(port_res) == {"ok", "security", "expected", "address", "stages", "tls", "extensions",
                             "auth_mechanisms", "auth", "diagnosis"}
    assert port_res["diagnosis"]["code"] == "tcp_refused"
    assert set(port_res["diagnosis"]) == {"code", "title", "cause", "fix", "reference"}
    assert set(port_res["stages"][0]) == {"name", "ok", "ms", "detail"}
    assert isinstance(res["elapsed_ms"], float)


def test_endpoint_in_the_roles_shape_probes_its_host_and_ports(run, silent_listener):
    out = run({"endpoint": {"profile": "custom", "host": "127.0.0.1", "ports": [silent_listener]},
               "stop_after": "connect", "helo": "probe.test"})
    assert out.failed is False and out.result["ok"] is True
    assert list(out.result["ports"]) == [str(silent_listener)]


def test_connect_only_probe_succeeds_in_check_mode(run, silent_listener):
    out = run({"profile": "custom", "host": "127.0.0.1", "ports": [silent_listener], "stop_after": "connect",
               "helo": "probe.test"}, check_mode=True)
    assert out.failed is False
    assert out.result["ok"] is True and out.result["changed"] is False
    assert [s["name"] for s in out.result["ports"][str(silent_listener)]["stages"]] == ["dns", "connect"]
    assert out.result["summary"].startswith("%d ok" % silent_listener)


def test_missing_ca_path_is_a_clear_failure(run):
    out = run({"profile": "custom", "host": "127.0.0.1", "ports": [closed_port()], "ca_path": "/nonexistent.pem"})
    assert out.failed is True and "ca_path /nonexistent.pem does not exist on this host" in out.result["msg"]
    # A diagnosis of its own, so that the report files it under the file, not as a missing result (issue 17).
    assert out.result["diagnosis"]["code"] == "local_file_unusable" and out.result["ok"] is False


def test_an_unusable_ca_file_is_a_clear_failure(run, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    out = run({"profile": "custom", "host": "127.0.0.1", "ports": [closed_port()], "ca_path": str(bad)})
    assert out.failed is True and "ca_path %s cannot be loaded" % bad in out.result["msg"]
    assert out.result["diagnosis"]["code"] == "local_file_unusable"


def test_secret_options_are_no_log():
    spec = probe.argument_spec()
    auth = spec["auth"]["options"]
    assert auth["password"]["no_log"] is True and auth["access_token"]["no_log"] is True


def test_documentation_matches_the_argument_spec():
    import yaml
    doc = yaml.safe_load(probe.DOCUMENTATION)
    spec = probe.argument_spec()
    assert set(doc["options"]) == set(spec)
    for name, opt in spec.items():
        assert doc["options"][name]["type"] == opt["type"], name
        assert doc["options"][name].get("default") == opt.get("default"), name
        assert doc["options"][name].get("choices") == opt.get("choices"), name
    for sub in ("auth", "send", "relays"):
        assert set(doc["options"][sub]["suboptions"]) == set(spec[sub]["options"])
    returned = yaml.safe_load(probe.RETURN)
    assert set(returned) == {"ok", "summary", "elapsed_ms", "oauth_endpoint", "connector", "ports", "endpoint",
                             "diagnosis", "relays"}
    assert all("sample" in v for v in returned.values())


def test_an_app_registration_gets_a_token_before_the_login(run, monkeypatch):
    """auth with client_secret: the host asks for a token first; a refusal fails before any connection."""
    from ansible_collections.mailops.smtp.plugins.module_utils import oauth
    asked = []

    def refused(tenant_id, client_id, client_secret, **kw):
        asked.append((tenant_id, client_id, kw["profile"]))
        raise oauth.OAuthError("AADSTS7000215: the client secret is invalid")
    monkeypatch.setattr(oauth, "get_access_token", refused)
    out = run({"profile": "custom", "host": "127.0.0.1", "ports": [closed_port()],
               "auth": {"username": "u@x.test", "tenant_id": "t", "client_id": "c", "client_secret": SECRET}})
    assert out.failed and asked == [("t", "c", "custom")]
    assert out.result["msg"].startswith("the token request failed, so no login was made: AADSTS7000215")
    assert out.result["ports"] == {} and SECRET not in repr(out.result)


def test_the_token_is_used_for_xoauth2(run, monkeypatch):
    from ansible_collections.mailops.smtp.plugins.module_utils import oauth
    monkeypatch.setattr(oauth, "get_access_token", lambda *a, **kw: {"access_token": "tok-123", "expires_in": 60})
    seen = {}

    def fake_probe(plan, check_mode=False):
        seen.update(plan["auth"])
        return {"ok": True, "summary": "ok", "ports": {}}
    monkeypatch.setattr(probe, "run_probe", fake_probe)
    out = run({"profile": "custom", "host": "127.0.0.1", "ports": [closed_port()],
               "auth": {"username": "u@x.test", "tenant_id": "t", "client_id": "c", "client_secret": SECRET}})
    assert not out.failed and seen["access_token"] == "tok-123" and seen.get("password") is None
    assert "tok-123" not in repr(out.result)
