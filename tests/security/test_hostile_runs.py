# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile inputs through real ansible-playbook runs (issue 9, section 2), on a lab.

test_hostile_inputs.py drives the same code in-process; here the inputs go through Ansible
itself (templating, argument specs, action plugins, the roles' own checks, the modules on the
hosts). Four runs, each case a task with ignore_errors (plugins) or a block whose rescue keeps
ansible_failed_result (roles), all of them dumped to a JSON file on the controller:
  plugins    probe, settings, vault_credentials (action and lookup), fleet_report on host1;
  configure  the smtp_configure role with bad variables on host1, and a Jinja expression stored
             in OpenBao as the password, which the stand-in rejects at preflight;
  literal    the same Jinja password, preflight off, written by smtp_configure on host2;
  validate   the smtp_validate role with bad variables on host3.
Every case must fail with its own specific message, no secret may show in any output, and no
file on any host may change (checksums of what each host wrote under /etc, /opt, /srv and the
collection's own dirs, read from its overlays' upper layers), except the file (and its drift
marker) the literal run is meant to write. That file must hold the expression as written, never
the output of `id`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.core import upper_layer

JINJA = "{{ lookup('pipe','id') }}"
ID_OUTPUT = "uid=0(root)"
LITERAL_FILE = "/etc/mailops-hostile.json"
# What the literal run writes: the file and the settings module's drift marker beside it.
LITERAL_FILES = [LITERAL_FILE, LITERAL_FILE + ".mailops-smtp.json"]
PLUGIN_HOST, CONFIGURE_HOST, LITERAL_HOST, VALIDATE_HOST = "host1", "host1", "host2", "host3"
# /root is left out: a host sees the controller's /root through its overlay, and with it the
# local temporary directories of every ansible-playbook on the machine.
ROOTS = ["/etc", "/opt", "/srv", "/var/lib/mailops-smtp", "/usr/local/lib/mailops-smtp"]


def _entry(p: str, st: os.stat_result) -> list:
    if stat.S_ISDIR(st.st_mode):
        return ["dir", oct(st.st_mode), st.st_uid, st.st_gid]
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return ["deleted"]  # an overlay whiteout: the host removed the file
    if stat.S_ISREG(st.st_mode):
        with open(p, "rb") as fh:
            return [hashlib.sha256(fh.read()).hexdigest(), oct(st.st_mode), st.st_uid, st.st_gid]
    return ["special", oct(st.st_mode)]


def checksums(lab, host: str) -> dict:
    """sha256, mode and owner of everything the host itself wrote or removed under ROOTS.

    A host's writes land in its overlay's upper layer, so that layer is exactly what it
    changed; walking the merged view instead would hash the machine's own trees (its
    /opt alone can hold gigabytes), once a host.
    """
    out = {}
    for root in ROOTS:
        upper = upper_layer(lab.state["prefix"], host, root)
        for top, dirs, files in os.walk(upper):
            dirs.sort()
            for name in dirs + sorted(files):
                p = os.path.join(top, name)
                seen = root + p[len(str(upper)):]
                try:
                    out[seen] = _entry(p, os.lstat(p))
                except OSError as exc:
                    out[seen] = ["unreadable", exc.__class__.__name__]
    return out


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _vault_client(lab):
    import hvac
    token = Path(lab.state["vault"]["token_file"]).read_text().strip()
    return hvac.Client(url=lab.state["vault"]["http"], token=token, timeout=10)


def _case_task(name: str, task: dict) -> dict:
    return dict(task, name=name, register=name, ignore_errors=True)


def _role_case(name: str, role: str, role_vars: dict) -> dict:
    """The role with role_vars; a failure is kept in hostile_results[name], never stops the play."""
    keep = "{{ hostile_results | default({}) | combine({%r: %s}) }}"
    return {"name": name, "block": [
        {"name": f"{name}: run {role}", "ansible.builtin.include_role": {"name": role}, "vars": role_vars},
        {"name": f"{name}: it passed", "ansible.builtin.set_fact": {
            "hostile_results": keep % (name, "{'failed': false}")}},
    ], "rescue": [
        {"name": f"{name}: keep the failure", "ansible.builtin.set_fact": {
            "hostile_results": keep % (name, "ansible_failed_result | combine({'failed_task': "
                                              "ansible_failed_task.name})")}},
    ]}


def _dump(dest: Path, names=None) -> dict:
    if names is None:
        content = "{{ hostile_results | to_nice_json }}"
    else:
        content = "{{ {%s} | to_nice_json }}" % ", ".join("%r: %s" % (n, n) for n in names)
    return {"name": "Keep every result on the controller", "ansible.builtin.copy": {
        "content": content, "dest": str(dest), "mode": "0600"}, "delegate_to": "localhost"}


def plugins_play(ctx: dict) -> list:
    vault = {"url": ctx["vault_url"], "ca_path": ctx["ca"], "mount": "secret",
             "auth": {"method": "token", "token_file": ctx["token_file"]}}
    keys = {"host": "smtp.host", "port": "smtp.port", "username": "smtp.user", "password": "smtp.password"}
    lookup = "{{ lookup('mailops.smtp.vault_credentials', %r, url=%r, ca_path=%r, auth=%r) }}"
    cases = [
        ("probe_port_0", {"mailops.smtp.probe": {"profile": "custom", "host": "smtp.office365.com", "ports": [0]}}),
        ("probe_username_crlf", {"mailops.smtp.probe": {
            "profile": "m365", "auth": {"username": "svc@contoso.com\r\nRSET", "password": ctx["password"]}}}),
        ("probe_unknown_profile", {"mailops.smtp.probe": {"profile": "m365_mars"}}),
        ("settings_relative_path", {"mailops.smtp.settings": {
            "format": "json", "path": "etc/app.json", "keys": keys, "smtp": {"profile": "m365"},
            "credential": {"type": "basic", "username": "svc@contoso.com", "password": ctx["password"]}}}),
        ("settings_from_header", {"mailops.smtp.settings": {
            "preset": "msmtp", "path": "/etc/msmtprc",
            "smtp": {"profile": "m365", "from_address": "svc@contoso.com\nBcc: all@contoso.com"},
            "credential": {"type": "basic", "username": "svc@contoso.com", "password": ctx["password"]}}}),
        ("settings_unknown_preset", {"mailops.smtp.settings": {"preset": "exchange"}}),
        ("settings_missing_dir", {"mailops.smtp.settings": {
            "format": "json", "path": "/etc/no-such-dir/app.json", "keys": keys, "smtp": {"profile": "m365"},
            "credential": {"type": "basic", "username": "svc@contoso.com", "password": ctx["password"]}}}),
        ("vault_url_scheme", {"mailops.smtp.vault_credentials": dict(vault, path=ctx["basic_path"],
                                                                     url="ftp://vault.lab.test:8201")}),
        ("vault_no_such_secret", {"mailops.smtp.vault_credentials": dict(vault, path=ctx["missing_path"])}),
        ("vault_secret_lacks_password", {"mailops.smtp.vault_credentials": dict(vault, path=ctx["broken_path"])}),
        ("vault_token_file_missing", {"mailops.smtp.vault_credentials": dict(
            vault, path=ctx["basic_path"], auth={"method": "token", "token_file": "/nonexistent/vault-token"})}),
        ("lookup_url_scheme", {"ansible.builtin.debug": {"msg": lookup % (
            ctx["basic_path"], "ftp://vault.lab.test:8201", ctx["ca"], vault["auth"])}}),
        ("lookup_no_such_secret", {"ansible.builtin.debug": {"msg": lookup % (
            ctx["missing_path"], ctx["vault_url"], ctx["ca"], vault["auth"])}}),
        ("report_unknown_format", {"mailops.smtp.fleet_report": {
            "results": {}, "formats": ["pdf"], "report_dir": str(ctx["reports"] / "a")}}),
        ("report_results_and_hosts", {"mailops.smtp.fleet_report": {
            "results": {}, "hosts": ["host1"], "report_dir": str(ctx["reports"] / "b")}}),
        ("report_dir_unwritable", {"mailops.smtp.fleet_report": {
            "results": {"host1": {"ok": True}}, "report_dir": "/proc/mailops-report"}}),
    ]
    tasks = []
    for name, task in cases:
        if name.startswith(("vault_", "lookup_", "report_")):
            task = dict(task, delegate_to="localhost", run_once=True)
        tasks.append(_case_task(name, task))
    tasks.append(_dump(ctx["out"] / "plugins.json", [case[0] for case in cases]))
    return [{"name": "Hostile input to each plugin", "hosts": PLUGIN_HOST, "gather_facts": False, "tasks": tasks}]


def _configure_vars(ctx: dict, **kw) -> dict:
    base = {"smtp_configure_ca_path": ctx["ca"], "smtp_configure_install_packages": False,
            "smtp_configure_apps": [{"preset": "msmtp"}]}
    base.update(kw)
    return base


def configure_play(ctx: dict) -> list:
    role = "mailops.smtp.smtp_configure"
    vault = {"url": ctx["vault_url"], "ca_path": ctx["ca"], "mount": "secret",
             "auth": {"method": "token", "token_file": ctx["token_file"]}}
    cases = [
        ("configure_apps_not_a_list", _configure_vars(ctx, smtp_configure_apps="msmtp")),
        ("configure_unknown_preset", _configure_vars(ctx, smtp_configure_apps=[{"preset": "exchange"}])),
        ("configure_no_credential", _configure_vars(ctx, smtp_configure_credential=None, smtp_configure_vault=None)),
        ("configure_vault_secret_lacks_password", _configure_vars(
            ctx, smtp_configure_vault=dict(vault, path=ctx["broken_path"]))),
        ("configure_username_crlf", _configure_vars(ctx, smtp_configure_preflight=False, smtp_configure_credential={
            "type": "basic", "username": "svc@contoso.com\nauth off", "password": ctx["password"]})),
        ("configure_jinja_password_preflight", _configure_vars(
            ctx, smtp_configure_vault=dict(vault, path=ctx["jinja_path"]))),
    ]
    tasks = [_role_case(name, role, v) for name, v in cases] + [_dump(ctx["out"] / "configure.json")]
    return [{"name": "Hostile variables for smtp_configure", "hosts": CONFIGURE_HOST, "gather_facts": False,
             "tasks": tasks}]


def literal_play(ctx: dict) -> list:
    role_vars = _configure_vars(
        ctx, smtp_configure_preflight=False,
        smtp_configure_vault={"url": ctx["vault_url"], "ca_path": ctx["ca"], "mount": "secret",
                              "path": ctx["jinja_path"], "auth": {"method": "token", "token_file": ctx["token_file"]}},
        smtp_configure_apps=[{"name": "hostile", "format": "json", "path": LITERAL_FILE,
                              "keys": {"host": "smtp.host", "username": "smtp.user", "password": "smtp.password"}}])
    tasks = [_role_case("literal_jinja_password", "mailops.smtp.smtp_configure", role_vars),
             _dump(ctx["out"] / "literal.json")]
    return [{"name": "A Jinja expression from Vault, written as it is", "hosts": LITERAL_HOST,
             "gather_facts": False, "tasks": tasks}]


def validate_play(ctx: dict) -> list:
    role = "mailops.smtp.smtp_validate"
    base = {"smtp_validate_ca_path": ctx["ca"], "smtp_validate_auth_hosts": "none"}
    cases = [
        ("validate_unknown_profile", dict(base, smtp_validate_endpoint="m365_mars")),
        ("validate_endpoint_unknown_key", dict(base, smtp_validate_endpoint={"profile": "m365", "port": 587})),
        ("validate_auth_hosts_some", dict(base, smtp_validate_auth_hosts="some")),
        ("validate_report_dir_unwritable", dict(base, smtp_validate_report_dir="/proc/mailops-report")),
        ("validate_username_crlf", dict(base, smtp_validate_auth_hosts="all", smtp_validate_credential={
            "type": "basic", "username": "svc@contoso.com\r\nRCPT TO:<x@y>", "password": ctx["password"]})),
    ]
    # A report directory per case, so that each case's report can be read afterwards.
    tasks = [_role_case(name, role, dict({"smtp_validate_report_dir": str(ctx["reports"] / name)}, **v))
             for name, v in cases] + [_dump(ctx["out"] / "validate.json")]
    return [{"name": "Hostile variables for smtp_validate", "hosts": VALIDATE_HOST, "gather_facts": False,
             "tasks": tasks}]


@pytest.fixture(scope="module")
def hostile(lab, standins, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("hostile")
    inputs, out, reports = scratch / "inputs", scratch / "out", scratch / "reports"
    for d in (inputs, out, reports):
        d.mkdir()
    client = _vault_client(lab)
    suffix = secrets.token_hex(4)
    password = "HostilePw-" + secrets.token_hex(8)
    ctx = {"vault_url": lab.state["vault"]["https"], "ca": lab.ca, "out": out, "reports": reports,
           "password": password, "basic_path": f"smtp/hostile-basic-{suffix}",
           "broken_path": f"smtp/hostile-broken-{suffix}", "jinja_path": f"smtp/hostile-jinja-{suffix}",
           "missing_path": f"smtp/hostile-missing-{suffix}"}
    stored = {ctx["basic_path"]: {"username": standins.mailbox, "password": password},
              ctx["broken_path"]: {"username": standins.mailbox},
              ctx["jinja_path"]: {"username": standins.mailbox, "password": JINJA}}
    for path, secret in stored.items():
        client.secrets.kv.v2.create_or_update_secret(path=path, mount_point="secret", secret=secret)
    vault_token = client.auth.token.create(ttl="30m", renewable=False, meta={"purpose": "mailops-hostile"})
    ctx["vault_token"] = vault_token["auth"]["client_token"]
    ctx["token_file"] = str(_write_private(inputs / "vault-token", ctx["vault_token"] + "\n"))

    hosts = [h["name"] for h in lab.hosts]
    before = {h: checksums(lab, h) for h in hosts}
    env = {k: v for k, v in lab.env.items() if not k.startswith(("VAULT_TOKEN", "BAO_TOKEN"))}
    env["ANSIBLE_NOCOLOR"] = "1"
    runs = {}
    try:
        for name, build in (("plugins", plugins_play), ("configure", configure_play), ("literal", literal_play),
                            ("validate", validate_play)):
            playbook = inputs / f"{name}.yml"
            playbook.write_text(json.dumps(build(ctx), indent=1))
            p = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
                                str(playbook)], capture_output=True, text=True, env=env, cwd=str(scratch),
                               timeout=600, check=False)
            dump = out / f"{name}.json"
            runs[name] = {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr,
                          "results": json.loads(dump.read_text()) if dump.exists() else None}
        after = {h: checksums(lab, h) for h in hosts}
        literal = lab.host_run(LITERAL_HOST, ["cat", LITERAL_FILE], check=False)
        yield {"runs": runs, "before": before, "after": after, "literal": literal, "ctx": ctx}
    finally:
        lab.host_run(LITERAL_HOST, ["rm", "-f", *LITERAL_FILES], check=False)
        client.auth.token.revoke(ctx["vault_token"])
        for path in stored:
            client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")


def _result(hostile, run: str, case: str) -> dict:
    got = hostile["runs"][run]
    assert got["results"] is not None, f"{run} run wrote no results:\n{got['stdout'][-4000:]}\n{got['stderr'][-2000:]}"
    assert case in got["results"], f"{case} did not run:\n{got['stdout'][-4000:]}"
    return got["results"][case]


def _msg(result: dict) -> str:
    return str(result.get("msg", "")) + " " + str(result.get("exception", ""))


# (run, case, words its error must hold, the task that must have failed for a role case)
CASES = [
    ("plugins", "probe_port_0", "port 0 is outside 1-65535", None),
    ("plugins", "probe_username_crlf", "auth.username must not contain CR, LF or NUL", None),
    ("plugins", "probe_unknown_profile", "value of profile must be one of", None),
    ("plugins", "settings_relative_path", "path must be absolute, not 'etc/app.json'", None),
    ("plugins", "settings_from_header", "from_address contains CR, LF, VT, FF, FS, GS, RS, NEL (U+0085), LS (U+2028), PS (U+2029) or NUL", None),
    ("plugins", "settings_unknown_preset", "unknown preset 'exchange'; choose one of", None),
    ("plugins", "settings_missing_dir", "directory /etc/no-such-dir does not exist; create it first", None),
    ("plugins", "vault_url_scheme", "url 'ftp://vault.lab.test:8201' must start with http:// or https://", None),
    ("plugins", "vault_no_such_secret", "nothing found to read secret/smtp/hostile-missing-", None),
    ("plugins", "vault_secret_lacks_password", "holds neither field 'password' (basic) nor", None),
    ("plugins", "vault_token_file_missing", "cannot read the Vault token from auth.token_file", None),
    ("plugins", "lookup_url_scheme", "must start with http:// or https://", None),
    ("plugins", "lookup_no_such_secret", "nothing found to read secret/smtp/hostile-missing-", None),
    ("plugins", "report_unknown_format", "formats: pdf not known; choose from", None),
    ("plugins", "report_results_and_hosts", "give exactly one of results", None),
    ("plugins", "report_dir_unwritable", "cannot create report_dir /proc/mailops-report", None),
    ("configure", "configure_apps_not_a_list", "'smtp_configure_apps' is of type str", "Validating arguments"),
    ("configure", "configure_unknown_preset", "value of preset must be one of", "Validating arguments"),
    ("configure", "configure_no_credential", "No SMTP credential: set smtp_configure_credential",
     "Check that the credential holds"),
    ("configure", "configure_vault_secret_lacks_password", "holds neither field 'password' (basic) nor",
     "Fetch the SMTP credential from Vault"),
    ("configure", "configure_username_crlf",
     "username contains CR, LF, VT, FF, FS, GS, RS, NEL (U+0085), LS (U+2028), PS (U+2029) or NUL",
     "Plan the change of every application"),  # issue 18: refused by the plan, before any write
    # issue 18: the host is the canary of its run; its refused login stops every host.
    ("configure", "configure_jinja_password_preflight", "Preflight failed on host1, so no file was written",
     "Stop every host when the canary's login failed"),
    ("validate", "validate_unknown_profile", "must be a profile name (custom, m365, m365_china, m365_connector, "
     "m365_dod, m365_gcc_high) or a dict", "Check the endpoint once"),
    ("validate", "validate_endpoint_unknown_key", 'with the keys profile, host and ports; got {"profile": "m365", "port": 587}',
     "Check the endpoint once"),
    ("validate", "validate_auth_hosts_some", "smtp_validate_auth_hosts must be one of: none, one, all, got: some",
     "Validating arguments"),
    ("validate", "validate_report_dir_unwritable", "cannot create report_dir /proc/mailops-report",
     "Write the fleet report"),
]


def test_every_run_completed(hostile):
    for name, run in hostile["runs"].items():
        assert run["rc"] == 0, f"{name}: rc {run['rc']}\n{run['stdout'][-4000:]}\n{run['stderr'][-2000:]}"
        assert run["results"], f"{name} kept no results"


@pytest.mark.parametrize("run,case,words,task", CASES, ids=[c[1] for c in CASES])
def test_each_case_fails_with_its_own_error(hostile, run, case, words, task):
    result = _result(hostile, run, case)
    assert result.get("failed") is True, result
    assert words in _msg(result), _msg(result)
    if task:
        assert result["failed_task"].startswith(task), result["failed_task"]


def test_jinja_password_reaches_the_stand_in_unevaluated_and_is_refused(hostile):
    msg = _msg(_result(hostile, "configure", "configure_jinja_password_preflight"))
    assert "587 failed at auth" in msg and "535 5.7.3" in msg


def test_a_wrong_endpoint_stops_validate_before_any_probe_and_writes_no_report(hostile):
    # The same mistake on every host is said once, before anything runs: no host is probed
    # and no report is written.
    for case in ("validate_unknown_profile", "validate_endpoint_unknown_key"):
        assert "Nothing was probed" in _msg(_result(hostile, "validate", case))
        assert not (hostile["ctx"]["reports"] / case).exists(), case


def test_validate_refuses_a_username_with_crlf(hostile):
    result = _result(hostile, "validate", "validate_username_crlf")
    assert result.get("failed") is True, "smtp_validate passed with a CR/LF in the username"
    report = (hostile["ctx"]["reports"] / "validate_username_crlf" / "report.json").read_text()
    assert "auth.username must not contain CR, LF or NUL" in report


def test_the_jinja_password_from_vault_is_written_literally(hostile):
    assert _result(hostile, "literal", "literal_jinja_password") == {"failed": False}
    literal = hostile["literal"]
    assert literal.returncode == 0, literal.stderr
    written = json.loads(literal.stdout)
    assert written["smtp"]["password"] == JINJA
    assert ID_OUTPUT not in literal.stdout


def test_no_file_changed_on_any_host_but_the_literal_one(hostile):
    changed = {}
    for host, before in hostile["before"].items():
        after = hostile["after"][host]
        diff = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        if diff:
            changed[host] = diff
    assert changed == {LITERAL_HOST: LITERAL_FILES}
    # The checksums read the layer the host writes to: the lab's own /etc/hostname is there.
    assert hostile["before"][CONFIGURE_HOST]["/etc/hostname"][0] == hashlib.sha256(b"host1\n").hexdigest()


def test_no_secret_in_any_output_or_result(hostile):
    ctx = hostile["ctx"]
    for name, run in hostile["runs"].items():
        text = run["stdout"] + run["stderr"] + json.dumps(run["results"])
        assert ctx["password"] not in text, f"the password shows in the {name} run"
        assert ctx["vault_token"] not in text, f"the Vault token shows in the {name} run"
