# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/getting-started.md and the finding step of docs/basic-auth-retirement.md, run on the lab.

The examples are taken as written (the `<!-- example: NAME -->` blocks) and run in a fresh
directory, the way a new user would: install the tarball, check the controller's requirements,
write the inventory and group_vars, run the validate command, read the report with the jq lines.
Only what must differ on the lab is substituted, as in tests/integration/vault/test_vault_docs.py:
the sample hosts get the lab hosts' connection variables, the Vault URL, CA and token file are the
lab's, and the lab's SMTP stand-in certificate needs the lab CA (Microsoft's chains to the system
store, so the doc sets no `mailops_smtp_ca_path`).

Run inside the lab's controller namespace:
  MAILOPS_LAB_STATE=$PWD/.lab-docs .lab-docs/ctl-exec .venv/bin/python -m pytest -q tests/integration/docs
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.packaging._collection import BIN, build, installed_root, isolated_env

REPO = Path(__file__).resolve().parents[3]
GETTING_STARTED = REPO / "docs" / "getting-started.md"
RETIREMENT = REPO / "docs" / "basic-auth-retirement.md"
DOC_VAULT_URL = "https://vault.example.com:8200"
DOC_VAULT_CA = "/etc/ssl/vault-ca.pem"
DOC_TOKEN_FILE = "/etc/mailops/vault-token"
DOC_COLLECTIONS = "~/.ansible/collections"


def example(doc: Path, name: str) -> str:
    found = re.findall(r"<!-- example: %s -->\n```\w*\n(.*?)^```" % re.escape(name), doc.read_text(), re.S | re.M)
    assert len(found) == 1, "%s has no single example %r" % (doc.name, name)
    return found[0]


def run_line(line: str, env: dict, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    tool = shutil.which(argv[0], path=env["PATH"])
    assert tool, "%s is not installed on the controller" % argv[0]
    return subprocess.run([tool, *argv[1:]], env=env, cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def lab_vars(lab) -> dict:
    vars_file = lab.dir / "vars.yml"
    if not vars_file.is_file():
        pytest.fail("%s is missing: bring the lab up with `python -m tests.lab --state-dir %s up`" % (vars_file, lab.dir))
    return yaml.safe_load(vars_file.read_text())


@pytest.fixture(scope="module")
def user(lab, tmp_path_factory):
    """A fresh working directory, and an environment in which Ansible sees only what the doc installs."""
    work = tmp_path_factory.mktemp("getting-started")
    tarball = build(work / "dist")
    home = work / "home"
    home.mkdir()
    shutil.copy(tarball, home / tarball.name)
    collections = work / "collections"
    # The lab's ansible.cfg keeps its SSH settings; its collections path is replaced.
    env = isolated_env(collections, {"ANSIBLE_CONFIG": lab.env["ANSIBLE_CONFIG"]})
    env["PATH"] = "%s:/usr/bin:/bin" % BIN
    for k in ("VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN"):
        env.pop(k, None)
    return {"dir": home, "env": env, "collections": collections}


def test_install(user):
    lines = [ln for ln in example(GETTING_STARTED, "install").splitlines() if ln.strip()]
    assert len(lines) == 3
    galaxy, pip, doc = lines
    proc = run_line(galaxy, user["env"], user["dir"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = installed_root(user["collections"])
    assert (root / "playbooks" / "validate.yml").is_file()

    # The requirements file the doc names, in the installed copy; --no-index --dry-run: the lab has
    # no registry, and the venv must already hold every library the file asks for.
    pip = pip.replace(DOC_COLLECTIONS, str(user["collections"])) + " --no-index --dry-run"
    proc = run_line(pip, user["env"], user["dir"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Would install" not in proc.stdout, proc.stdout
    for lib in ("hvac", "ruamel.yaml", "requests"):
        assert "Requirement already satisfied: %s" % lib in proc.stdout, proc.stdout

    proc = run_line(doc, user["env"], user["dir"])
    assert proc.returncode == 0, proc.stderr
    assert "smtp_validate_auth_hosts" in proc.stdout and "smtp_validate_report_dir" in proc.stdout


def write_inventory(user, lab, lab_vars) -> list[str]:
    """The doc's inventory and group_vars, with the lab's connection variables and Vault."""
    inventory = yaml.safe_load(example(GETTING_STARTED, "inventory"))
    lab_inventory = yaml.safe_load(lab.inventory.read_text())
    lab_hosts = [dict(v or {}) for group in lab_inventory["all"]["children"].values()
                 for v in group["hosts"].values()]
    doc_hosts = [(group, name) for group, spec in inventory["all"]["children"].items() for name in spec["hosts"]]
    assert len(lab_hosts) >= len(doc_hosts), "the lab needs %d hosts" % len(doc_hosts)
    for (group, name), host_vars in zip(doc_hosts, lab_hosts):
        inventory["all"]["children"][group]["hosts"][name] = host_vars
    inventory["all"]["vars"] = lab_inventory["all"]["vars"]
    inv_dir = user["dir"] / "inventory"
    (inv_dir / "group_vars").mkdir(parents=True, exist_ok=True)
    (inv_dir / "hosts.yml").write_text(yaml.safe_dump(inventory))

    vault = lab_vars["mailops_smtp_vault"]
    text = example(GETTING_STARTED, "group-vars")
    for old, new in ((DOC_VAULT_URL, vault["url"]), (DOC_VAULT_CA, vault["ca_path"]),
                     (DOC_TOKEN_FILE, vault["auth"]["token_file"])):
        assert old in text, old
        text = text.replace(old, new)
    text += "mailops_smtp_ca_path: %s\n" % lab_vars["mailops_smtp_ca_path"]
    (inv_dir / "group_vars" / "all.yml").write_text(text)
    return sorted(name for _group, name in doc_hosts)


def test_validate_and_read_the_report(user, lab, lab_vars):
    hosts = write_inventory(user, lab, lab_vars)
    command = example(GETTING_STARTED, "validate").strip()
    proc = run_line(command, user["env"], user["dir"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]

    report_dir = user["dir"] / "mailops-smtp-report"
    for name in ("report.json", "report.html", "report.md", "report.junit.xml"):
        assert (report_dir / name).is_file(), name
    report = json.loads((report_dir / "report.json").read_text())
    assert [h["host"] for h in report["hosts"]] == hosts
    assert report["summary"]["passed"] is True
    assert report["summary"]["hosts_ready"] == len(hosts)
    # One host per group logs in, with the credential the doc's group_vars fetched from Vault.
    auth = {r["host"]: s["ok"] for r in report["records"] for s in r["stages"] if s["name"] == "auth"}
    assert auth == {h: True for h in hosts}, auth

    # The summary table the doc shows has the same shape as the one printed.
    shown = re.findall(r"<!-- output: summary -->\n```\n(.*?)```", GETTING_STARTED.read_text(), re.S)[0].splitlines()
    printed = re.findall(r'^\s+"(HOST\s.*?)",?$', proc.stdout, re.M)
    assert printed and printed[0].split() == shown[3].split(), (printed, shown[3])
    # Connectivity first, then readiness (issue 17).
    lead = "%d of %d hosts passed the connectivity check" % (len(hosts), len(hosts))
    assert re.search(r'"%s; 0 failed; 0%% failed, 0%% allowed: PASSED\."' % lead, proc.stdout)
    assert shown[0].startswith(lead)
    ready = "XOAUTH2 readiness: %d of %d hosts ready; 0 blocked." % (len(hosts), len(hosts))
    assert re.search(r'"%s"' % re.escape(ready), proc.stdout) and shown[1] == ready

    failing, not_ready = [run_line(ln, user["env"], user["dir"])
                          for ln in example(GETTING_STARTED, "read-report").splitlines() if ln.strip()]
    assert failing.returncode == 0 and not_ready.returncode == 0, failing.stderr + not_ready.stderr
    # A clean fleet: no host fails, every host is ready.
    assert failing.stdout == "" and not_ready.stdout == ""


def test_retirement_finds_the_app_without_oauth(user, lab, lab_vars):
    hosts = write_inventory(user, lab, lab_vars)
    web = yaml.safe_load(example(GETTING_STARTED, "inventory"))["all"]["children"]["web"]["hosts"]
    (user["dir"] / "inventory" / "group_vars" / "web.yml").write_text(example(RETIREMENT, "apps"))
    playbook, findings, reasons = [ln for ln in example(RETIREMENT, "find").splitlines() if ln.strip()]
    proc = run_line(playbook, user["env"], user["dir"])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report = json.loads((user["dir"] / "mailops-smtp-report" / "report.json").read_text())
    assert not [s for r in report["records"] for s in r["stages"] if s["name"] == "auth"], "auth_hosts=none logged in"

    (web_host,) = web
    got = run_line(findings, user["env"], user["dir"])
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == ["1 host(s), app_without_oauth: %s" % web_host]
    got = run_line(reasons, user["env"], user["dir"])
    assert got.stdout.splitlines() == ["%s\tapp_without_oauth\tpostfix cannot use OAuth 2.0" % web_host]
    ready = {h["host"]: h["readiness"]["ready"] for h in report["hosts"]}
    assert ready == {h: h != web_host for h in hosts}
