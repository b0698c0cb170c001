# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The validate playbook, run from the installed tarball against the lab.

Ansible sees only the copy installed from the tarball: its collections path names
that directory alone, sys.path is not scanned, and the checkout's own symlink tree
(.build/collections) is out of reach. Run inside the lab's controller namespace,
after `python -m tests.lab seed-vault` (it writes the lab's vars.yml).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.packaging._collection import (
    BIN,
    REPO,
    build,
    collection_list,
    doc_example,
    install,
    installed_root,
    isolated_env,
    run,
    tree_digest,
)

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("packaging-lab")
    return install(build(work / "dist"), work / "installed")


@pytest.fixture(scope="module")
def lab_env(lab, installed) -> dict:
    vars_file = lab.dir / "vars.yml"
    if not vars_file.is_file():
        pytest.fail(f"{vars_file} is missing: run `{lab.dir}/ctl-exec .venv/bin/python -m tests.lab "
                    f"--state-dir {lab.dir} seed-vault` first")
    # The lab's ansible.cfg (inventory, SSH, temp dirs) stays; its collections_path is overridden.
    return isolated_env(installed, {"ANSIBLE_CONFIG": lab.env["ANSIBLE_CONFIG"]})


def test_ansible_sees_only_the_installed_copy(installed, lab_env, tmp_path):
    found = {path: colls for path, colls in collection_list(lab_env, tmp_path).items() if "mailops.smtp" in colls}
    assert list(found) == [str(installed / "ansible_collections")]


def test_validate_runs_from_the_installed_copy(lab, installed, lab_env, tmp_path):
    before = tree_digest(installed_root(installed))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # A relative report dir: it must land under the directory ansible-playbook runs in,
    # not beside the playbook (which is inside the installed collection).
    proc = run([BIN / "ansible-playbook", "-i", lab.inventory, "mailops.smtp.validate",
                "-e", f"@{lab.dir / 'vars.yml'}", "-e", "smtp_validate_report_dir=fleet-report"],
               env=lab_env, cwd=run_dir, timeout=600)
    recap = proc.stdout[proc.stdout.index("PLAY RECAP"):].splitlines()[1:]
    recap = {line.split()[0]: line for line in recap if " : ok=" in line}
    assert {h["name"] for h in lab.hosts} <= set(recap), recap
    for host, line in recap.items():
        assert " failed=0 " in line and " unreachable=0 " in line, line

    report_dir = run_dir / "fleet-report"
    for name in ("report.json", "report.html", "report.md", "report.junit.xml"):
        assert (report_dir / name).is_file(), f"no {name} in {report_dir}"
    report = json.loads((report_dir / "report.json").read_text())
    assert report["summary"]["hosts"] == len(lab.hosts)
    assert report["summary"]["hosts_ready"] == len(lab.hosts)
    assert report["summary"]["passed"] is True

    assert tree_digest(installed_root(installed)) == before, "the run wrote into the installed collection"


def test_scale_md_credential_type_and_group_vars_fetch_the_credential(lab, installed, lab_env, tmp_path):
    """docs/scale.md's custom credential type, injected the way AWX does, carries the Vault token."""
    import jinja2
    import yaml

    doc = REPO / "docs" / "scale.md"
    ctype = yaml.safe_load(doc_example(doc, "credential-type"))
    secret_fields = {f["id"] for f in ctype["fields"] if f.get("secret")}
    assert "vault_token" in secret_fields
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    lab_vault = lab_vars["mailops_smtp_vault"]
    # AWX renders each injector with the credential's inputs; the file lives for the job only.
    token_file = tmp_path / "awx-credential-file"
    inputs = {"vault_addr": lab_vault["url"], "vault_token": Path(lab_vault["auth"]["token_file"]).read_text().strip(),
              "tower": {"filename": str(token_file)}}
    jenv = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def render(template: str) -> str:
        return jenv.from_string(template).render(**inputs)

    token_file.write_text(render(ctype["file"]["template"]))
    token_file.chmod(0o600)
    injected = {k: render(v) for k, v in ctype["env"].items()}
    # Booleans first: a failed assert must not print the token.
    token_in_env = any(inputs["vault_token"] in v for v in injected.values())
    assert not token_in_env, "the token must not be in the environment"

    group_vars = yaml.safe_load(doc_example(doc, "group-vars"))
    group_vars["mailops_smtp_vault"]["ca_path"] = lab_vault["ca_path"]   # the lab's CA in place of the sample path
    extra = {k: v for k, v in lab_vars.items() if not k.startswith("mailops_smtp_vault")}
    extra.update(group_vars)
    assert "url" not in extra["mailops_smtp_vault"] and "token" not in extra["mailops_smtp_vault"]["auth"]
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra))

    env = dict(lab_env)
    for k in ("VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN"):
        env.pop(k, None)
    env.update(injected)
    run([BIN / "ansible-playbook", "-i", lab.inventory, "mailops.smtp.validate", "-e", f"@{vars_file}",
         "-e", f"smtp_validate_report_dir={tmp_path / 'report'}"], env=env, cwd=tmp_path, timeout=600)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    auth = [s["ok"] for r in report["records"] for s in r["stages"] if s["name"] == "auth"]
    assert auth and all(auth), "no AUTH check passed with the credential the injected token fetched"
    token_in_report = inputs["vault_token"] in (tmp_path / "report" / "report.json").read_text()
    assert not token_in_report, "the Vault token is in the report"
