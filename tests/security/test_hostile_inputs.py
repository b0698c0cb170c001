# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile-input suite (issue 9, section 2): every bad input gets a clear, specific error, no
secret in it, and no file changes (checksums before and after).

In-process, where the code allows: the settings module (argument parsing and engine), the
settings action's check_args, the probe's plan, the Vault option adapter and credential
builder, the fleet report, and every typed option of every module and role spec. The case
tables of tests/unit are reused as they are (read from their parametrize marks), with the
"nothing written, nothing leaked" checks added here. The same kinds of input through real
ansible-playbook runs on a lab are in test_hostile_runs.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.smtp.plugins.modules import probe, settings
from ansible_collections.mailops.smtp.plugins.plugin_utils import _vault_credentials as vc
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_options import ACTION_SPEC, VaultOptions

REPO = Path(__file__).resolve().parents[2]
SECRET = "HostileSecret9f3b"
CRED = {"type": "basic", "username": "svc@contoso.com", "password": SECRET}
APP = {"type": "oauth2", "username": "svc@contoso.com", "tenant_id": "t", "client_id": "c", "client_secret": SECRET}
KIB64 = "A" * 65536
NOT_UTF8 = b"pa\xffss".decode("utf-8", "surrogateescape")  # how Python carries undecodable bytes


class ModuleExit(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg", ""))
        self.failed, self.result = failed, result


@pytest.fixture
def run_module(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", lambda self, **kw: (x for x in ()).throw(ModuleExit(False, kw)))
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", lambda self, **kw: (x for x in ()).throw(ModuleExit(True, kw)))

    def _run(mod, args):
        with patch_module_args(dict(args)):
            with pytest.raises(ModuleExit) as exc:
                mod.main()
        return exc.value
    return _run


@pytest.fixture
def target(tmp_path):
    """A config directory with one existing file per format, and its checksums."""
    d = tmp_path / "etc"
    d.mkdir()
    files = {"app.env": "KEEP=1\n", "app.ini": "[smtp]\nkeep = 1\n", "app.properties": "keep=1\n",
             "app.json": '{"keep": 1}\n', "msmtprc": "# keep\n", "latin1.env": None}
    for name, text in files.items():
        (d / name).write_bytes(text.encode() if text is not None else b"KEEP=caf\xe9\n")
    (d / "adir").mkdir()
    return d


def tree(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(d.rglob("*"))}


def env(d, **kw):
    base = {"format": "env", "path": str(d / "app.env"), "keys": {"host": "H", "port": "P", "username": "U",
                                                                  "password": "W"},
            "smtp": {"profile": "m365"}, "credential": CRED}
    base.update(kw)
    return base


# (id, args built from the target dir, words the error must contain)
SETTINGS_CASES = [
    ("username-lf", lambda d: env(d, credential=dict(CRED, username="a@b\r\nRSET")), "username contains CR, LF"),
    ("username-lf-json", lambda d: env(d, format="json", path=str(d / "app.json"), keys={"username": "s.u"},
                                       credential=dict(CRED, username="a@b\nRCPT TO:<x@y>")), "username contains CR"),
    ("from-lf", lambda d: env(d, smtp={"profile": "m365", "from_address": "a@b\nBcc: x@y"}), "from_address contains"),
    ("from-name-lf", lambda d: dict(preset="msmtp", path=str(d / "msmtprc"), credential=CRED,
                                    smtp={"profile": "m365", "from_name": "Ops\r\nBcc: x@y"}), "from_name contains"),
    ("host-lf", lambda d: env(d, smtp={"host": "smtp\nX=1", "port": 587}), "host contains CR, LF"),
    ("msmtp-username-lf", lambda d: dict(preset="msmtp", path=str(d / "msmtprc"),
                                         credential=dict(CRED, username="u\nauth off"), smtp={"profile": "m365"}),
     "username contains CR"),
    ("password-nul", lambda d: env(d, format="properties", path=str(d / "app.properties"),
                                   credential=dict(CRED, password="a\x00b")), "NUL character"),
    ("password-lf-env", lambda d: env(d, credential=dict(CRED, password="a\nb")), "line break"),
    # Issue 15: every line break, not only CR and LF (str.splitlines() and YAML 1.1 break at them too).
    ("password-vt-ini", lambda d: env(d, format="ini", path=str(d / "app.ini"),
                                      credential=dict(CRED, password="a\x0bkeep = 2")), "line break"),
    ("password-ls-env", lambda d: env(d, credential=dict(CRED, password="a\u2028KEEP=2")), "line break"),
    ("password-ff-msmtp", lambda d: dict(preset="msmtp", path=str(d / "msmtprc"), smtp={"profile": "m365"},
                                         credential=dict(CRED, password="a\x0cauth off")), "line break"),
    ("username-nel", lambda d: env(d, credential=dict(CRED, username="a@b\x85RSET")), "username contains CR, LF"),
    ("from-ps", lambda d: env(d, smtp={"profile": "m365", "from_address": "a@b\u2029Bcc: x@y"}),
     "from_address contains"),
    ("password-backslash-env", lambda d: env(d, credential=dict(CRED, password=SECRET + " \\")),
     "ends with a backslash"),
    ("password-64k", lambda d: env(d, credential=dict(CRED, password=KIB64)), "65536 characters long"),
    ("username-64k", lambda d: env(d, credential=dict(CRED, username=KIB64)), "65536 characters long"),
    ("from-64k", lambda d: env(d, keys={"from_address": "F"}, smtp={"profile": "m365", "from_address": KIB64}),
     "65536 characters long"),
    ("client-secret-64k", lambda d: env(d, keys={"client_secret": "S"}, credential=dict(APP, client_secret=KIB64)),
     "client_secret is 65536"),
    ("file-not-utf8", lambda d: env(d, path=str(d / "latin1.env")), "is not UTF-8 text"),
    ("port-0", lambda d: env(d, smtp={"host": "h", "port": 0}), "from 1 to 65535, got 0"),
    ("port-65536", lambda d: env(d, smtp={"host": "h", "port": 65536}), "got 65536"),
    ("port-587x", lambda d: env(d, smtp={"host": "h", "port": "587x"}), "got '587x'"),
    ("timeout-word", lambda d: env(d, keys={"timeout": "T"}, smtp={"profile": "m365", "timeout": "soon"}),
     "smtp.timeout must be"),
    ("security-ssl", lambda d: env(d, smtp={"profile": "m365", "security": "ssl"}), "starttls or tls"),
    ("mechanism-plain", lambda d: env(d, smtp={"profile": "m365", "mechanism": "plain"}), "login or xoauth2"),
    ("unknown-preset", lambda d: dict(preset="exchange", path=str(d / "x")), "preset must be one of"),
    ("unknown-format", lambda d: env(d, format="toml"), "format must be one of"),
    ("unknown-profile", lambda d: env(d, smtp={"profile": "m365_mars"}), "unknown profile 'm365_mars'"),
    ("relative-path", lambda d: env(d, path="etc/app.env"), "path must be absolute"),
    ("missing-dir", lambda d: env(d, path=str(d / "nowhere" / "app.env")), "does not exist"),
    ("path-is-dir", lambda d: env(d, path=str(d / "adir")), "is a directory, not a regular file"),
    ("no-create", lambda d: env(d, path=str(d / "new.env"), create=False), "create is false"),
    ("bad-mode", lambda d: env(d, mode="rwx"), "not an octal number"),
    ("bad-owner", lambda d: env(d, owner="no-such-user-x"), "does not exist on the host"),
    ("preset-and-format", lambda d: dict(env(d), preset="msmtp"), "mutually exclusive"),
    ("credential-str", lambda d: env(d, credential="svc:" + SECRET), "dictionary requested"),
    ("credential-bad-type", lambda d: env(d, credential=dict(CRED, type="kerberos")), "basic, oauth2"),
    ("yaml-bypassing-action", lambda d: env(d, format="yaml", path=str(d / "a.yml")), "merged by the action plugin"),
]


@pytest.mark.parametrize("build,words", [c[1:] for c in SETTINGS_CASES], ids=[c[0] for c in SETTINGS_CASES])
def test_settings_refuses_and_writes_nothing(run_module, target, build, words):
    before = tree(target)
    out = run_module(settings, build(target))
    assert out.failed, out.result
    assert words in out.result["msg"]
    assert SECRET not in repr(out.result)
    assert tree(target) == before  # no file changed, none created (no candidate left behind)


@pytest.mark.parametrize("field", ["password", "username"])
def test_non_utf8_values_refused_before_any_write(target, field):
    # Ansible itself refuses undecodable bytes in module arguments ("Refusing to deserialize an
    # invalid UTF8 string"); the engine refuses them too, for callers that reach it directly.
    from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
    before = tree(target)
    params = dict(env(target, credential=dict(CRED, **{field: NOT_UTF8})), create=True, options={})
    with pytest.raises(engine.SettingsError) as err:
        engine.plan(params, "k", lambda argv, timeout=None: (1, "", "not run"))
    assert "%s is not valid UTF-8" % field in str(err.value) and SECRET not in str(err.value)
    assert tree(target) == before


def test_jinja_in_a_secret_is_written_literally(run_module, target):
    jinja = "{{ lookup('pipe', 'id') }}{% raw %}"
    out = run_module(settings, env(target, format="json", path=str(target / "app.json"),
                                   keys={"username": "smtp.user", "password": "smtp.password"},
                                   credential=dict(CRED, password=jinja)))
    assert not out.failed, out.result
    import json
    assert json.loads((target / "app.json").read_text())["smtp"]["password"] == jinja


# The settings action refuses some input on the controller, before any connection.
ACTION_CASES = [
    ({"preset": "msmtp", "_content": "x"}, "set by the action plugin"),
    ({}, "give exactly one of preset"),
    ({"preset": "msmtp", "format": "env"}, "give exactly one of preset"),
    ({"preset": "exchange"}, "unknown preset 'exchange'"),
    ({"preset": "msmtp", "credential": ["x"]}, "credential must be a credential object"),
    ({"format": "env", "path": "/x"}, "needs keys"),
    ({"format": "env", "path": "/x", "keys": {"passwd": "P"}}, "passwd not logical names"),
    ({"format": "env", "keys": {"host": "H"}}, "needs path"),
]


@pytest.mark.parametrize("args,words", ACTION_CASES)
def test_settings_action_check_args(args, words):
    from ansible.errors import AnsibleActionFail

    from ansible_collections.mailops.smtp.plugins.action.settings import check_args
    with pytest.raises(AnsibleActionFail) as err:
        check_args(args)
    assert words in str(err.value)


def reused(test_fn):
    """The case table of an existing parametrized test, as it stands there."""
    marks = [m for m in getattr(test_fn, "pytestmark", []) if m.name == "parametrize"]
    assert marks, f"{test_fn.__name__} has no case table any more"
    return list(marks[0].args[1])


def _probe_cases():
    from tests.unit.plugins.modules import test_probe
    extra = [
        ({"auth": {"username": KIB64, "password": SECRET}}, "auth.username is 65536 characters long"),
        ({"auth": {"username": "u@contoso.com", "password": KIB64 + SECRET}}, "auth.password is 65553"),
        ({"auth": {"username": "u@contoso.com", "access_token": KIB64}}, "auth.access_token is 65536"),
        ({"helo": KIB64}, "helo is 65536 characters long"),
        ({"profile": "m365_mars"}, "m365_mars"),
    ]
    return reused(test_probe.test_bad_input_fails_cleanly) + extra


@pytest.mark.parametrize("args,words", _probe_cases())
def test_probe_refuses_before_connecting(run_module, monkeypatch, args, words):
    import socket

    def no_network(*a, **kw):
        raise AssertionError("the probe connected despite bad input")
    monkeypatch.setattr(socket, "create_connection", no_network)
    out = run_module(probe, args)
    assert out.failed, out.result
    assert words in out.result["msg"]
    assert SECRET not in repr(out.result)


def test_probe_refuses_non_utf8():
    from ansible_collections.mailops.smtp.plugins.module_utils.endpoint import EndpointError, build_plan
    with pytest.raises(EndpointError, match="auth.username is not valid UTF-8"):
        build_plan({"auth": {"username": NOT_UTF8, "password": SECRET}})


def _vault_option_cases():
    from tests.unit.plugins.plugin_utils import test_vault_options as t
    extra = [
        ({"url": "http://127.0.0.1:1", "timeout": "soon"}, "timeout"),
        ({"url": "http://127.0.0.1:1", "retries": "x"}, "retries"),
        ({"url": "http://127.0.0.1:1", "fields": "username"}, "fields"),
        ({"url": "http://127.0.0.1:1", "type": "both"}, "type"),
        ({"url": "http://127.0.0.1:1", "auth": "token:" + SECRET}, "auth"),
        ({"url": "http://127.0.0.1:1", "kv_version": "two"}, "kv_version"),
    ]
    return reused(t.test_invalid_options) + extra


@pytest.mark.parametrize("kw,words", _vault_option_cases())
def test_vault_options_refused(kw, words):
    kw = dict(kw)
    kw.setdefault("path", "smtp/x")
    with pytest.raises(VaultCredentialError) as err:
        VaultOptions(kw, ACTION_SPEC, environ={})
    assert words in str(err.value) and SECRET not in str(err.value)


@pytest.mark.parametrize("token_file,words", [
    ("relative/token", "cannot read the Vault token"),
    ("/nonexistent/token", "No such file"),
    ("/etc", "Is a directory"),
    (None, "is empty"),
])
def test_vault_token_file_refused(tmp_path, token_file, words):
    from ansible_collections.mailops.smtp.plugins.plugin_utils._auth_method_token import TokenAuth
    if token_file is None:
        token_file = str(tmp_path / "empty")
        Path(token_file).write_text("\n")
    opts = VaultOptions({"path": "smtp/x", "url": "http://127.0.0.1:1",
                         "auth": {"method": "token", "token_file": token_file}}, ACTION_SPEC, environ={})
    with pytest.raises(VaultCredentialError) as err:
        TokenAuth(opts).validate()
    assert words in str(err.value)


def _credential_cases():
    from tests.unit.plugins.plugin_utils import test_vault_credential_object as t
    return reused(t.test_layout_errors_name_fields_path_version_never_values)


@pytest.mark.parametrize("data,kw,words", _credential_cases())
def test_vault_secret_layouts_refused(data, kw, words):
    opts = VaultOptions(dict(kw, path="smtp/x", url="http://127.0.0.1:1"), ACTION_SPEC, environ={})
    with pytest.raises(VaultCredentialError) as err:
        vc.build_credential(data, {"version": 3, "created_time": None}, opts)
    assert words in str(err.value) and "TOPSECRET" not in str(err.value)


# A value of the wrong type for each typed option. str, path and raw options are left out:
# Ansible turns any scalar into a string by design.
WRONG = {"int": "not-a-number", "float": "not-a-number", "bool": "maybe", "dict": "not-a-dict",
         "list": {"not": "a list"}}


def _typed_options(spec, prefix=""):
    for name, opt in sorted(spec.items()):
        kind = opt.get("type", "str")
        if kind in WRONG and not opt.get("choices"):
            yield prefix + name, name, kind
        if opt.get("options") and kind == "dict":
            for full, leaf, k in _typed_options(opt["options"], prefix + name + "."):
                yield full, leaf, k


def _specs():
    out = {"module settings": settings.argument_spec(), "module probe": probe.argument_spec(),
           "plugin vault_credentials": ACTION_SPEC}
    for role in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        for entry, body in yaml.safe_load(role.read_text())["argument_specs"].items():
            out[f"role {role.parts[-3]}/{entry}"] = body.get("options") or {}
    return out


def _wrong_type_cases():
    cases = []
    for where, spec in _specs().items():
        for full, leaf, kind in _typed_options(spec):
            cases.append(pytest.param(where, spec, full, leaf, kind, id=f"{where}:{full}"))
    return cases


def _nest(path: str, value):
    head, _sep, rest = path.partition(".")
    return {head: _nest(rest, value) if rest else value}


@pytest.mark.parametrize("where,spec,full,leaf,kind", _wrong_type_cases())
def test_wrong_type_for_every_typed_option(where, spec, full, leaf, kind):
    spec = {k: {kk: vv for kk, vv in v.items() if kk not in ("description", "default", "required")}
            for k, v in spec.items()}
    result = ArgumentSpecValidator(spec).validate(_nest(full, WRONG[kind]))
    msgs = " ".join(result.error_messages)
    assert result.error_messages, f"{where}: {full} accepted {WRONG[kind]!r} for type {kind}"
    assert leaf in msgs and kind in msgs, msgs


def test_at_least_forty_hostile_inputs():
    n = (len(SETTINGS_CASES) + len(ACTION_CASES) + len(_probe_cases()) + len(_vault_option_cases())
         + len(_credential_cases()) + len(_wrong_type_cases()) + 4 + 2 + 1 + 1)
    assert n >= 40
    print(f"hostile inputs checked in-process: {n}")
