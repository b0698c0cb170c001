# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users get it: the tarball, its installed copy, and the execution-environment files.

No lab needed: the tarball is built and installed once for the module, offline.
The lab run of the installed copy is in tests/integration/packaging/.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib.metadata
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.integration.packaging._collection import (
    BIN,
    REPO,
    build,
    doc_example,
    empty_config,
    galaxy_info,
    install,
    installed_root,
    isolated_env,
    members,
    read_member,
    run,
    tarball_name,
)

# What a user's copy of the collection is made of, and nothing else.
SHIPPED_TOP = {"README.md", "MANIFEST.json", "FILES.json", "LICENSE", "COPYING", "LICENSES", "REUSE.toml",
               "plugins", "roles", "playbooks", "docs", "meta", "changelogs"}
REQUIRED_TOP = {"README.md", "MANIFEST.json", "FILES.json", "LICENSES", "plugins", "roles", "playbooks", "docs", "meta",
                "changelogs"}
# Shipped directories whose every file in the checkout must be in the tarball.
SHIPPED_DIRS = ("plugins", "roles", "playbooks", "docs", "meta", "changelogs", "LICENSES")
# Development files that live inside shipped directories (fnmatch patterns; `*` spans `/`).
DEV_FILES_IN_SHIPPED_DIRS = ("docs/lab.md", "roles/*/molecule", "roles/*/molecule/*")

# Plugin directories ansible-doc does not document: action plugins borrow their
# module's docs; the rest are libraries.
UNDOCUMENTED_PLUGIN_DIRS = {"action", "module_utils", "plugin_utils", "doc_fragments"}
CONTROLLER_DIRS = ("action", "lookup", "plugin_utils", "callback", "filter", "test", "inventory", "vars")
TARGET_DIRS = ("modules", "module_utils")
# The floor: what existed when packaging was written. Newer plugins are found on disk.
KNOWN = {"module": {"probe", "settings", "vault_credentials", "fleet_report"}, "lookup": {"vault_credentials"}}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def tarball(work) -> Path:
    return build(work / "dist")


@pytest.fixture(scope="module")
def installed(tarball, work) -> Path:
    """The collections dir the tarball was installed into."""
    return install(tarball, work / "installed")


@pytest.fixture(scope="module")
def doc_env(installed, work) -> dict:
    env = isolated_env(installed)
    env["ANSIBLE_CONFIG"] = str(empty_config(work))
    return env


def ee_requirements() -> dict[str, Requirement]:
    reqs = {}
    for line in (REPO / "meta" / "ee-requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[canonicalize_name(req.name)] = req
    return reqs


def introspected_python(output: str) -> dict[str, Requirement]:
    """The python list of `introspect` output, each line tagged with the collection it came from."""
    data = yaml.safe_load(output)
    out = {}
    for entry in data["python"]:
        spec, origin = entry.partition("#")[::2]
        assert "mailops.smtp" in origin, f"{entry!r} does not say it comes from mailops.smtp"
        req = Requirement(spec.strip())
        out[canonicalize_name(req.name)] = req
    return out


def _is_dev_file(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pat) for pat in DEV_FILES_IN_SHIPPED_DIRS)


# --- the tarball ---------------------------------------------------------------------------

def test_tarball_ships_only_the_collection(tarball):
    names = members(tarball)
    top = {n.split("/", 1)[0] for n in names}
    assert top <= SHIPPED_TOP, f"development files in the tarball: {sorted(top - SHIPPED_TOP)}"
    assert REQUIRED_TOP <= top, f"missing from the tarball: {sorted(REQUIRED_TOP - top)}"
    junk = [n for n in names if "__pycache__" in n.split("/") or n.endswith((".pyc", ".retry", ".tar.gz"))]
    assert not junk, f"build leftovers in the tarball: {junk}"
    dev = [n for n in names if _is_dev_file(n)]
    assert not dev, f"development files in the tarball: {dev}"


def test_tarball_holds_every_shipped_file(tarball):
    names = members(tarball)
    missing = []
    for d in SHIPPED_DIRS:
        for p in sorted((REPO / d).rglob("*")):
            rel = p.relative_to(REPO).as_posix()
            if p.is_file() and "__pycache__" not in p.parts and not rel.endswith(".pyc") \
                    and not _is_dev_file(rel):
                if rel not in names:
                    missing.append(rel)
    assert not missing, f"build_ignore drops shipped files: {missing}"
    for role in (REPO / "roles").iterdir():
        assert f"roles/{role.name}/meta/argument_specs.yml" in names


def test_manifest_and_files_json_match_galaxy_yml_and_contents(tarball):
    info = galaxy_info()
    manifest = json.loads(read_member(tarball, "MANIFEST.json"))["collection_info"]
    for key in ("namespace", "name", "version", "license", "dependencies"):
        assert manifest[key] == info[key], key
    files = json.loads(read_member(tarball, "FILES.json"))["files"]
    listed = {f["name"]: f for f in files if f["ftype"] == "file"}
    in_tar = {n for n, m in members(tarball).items() if m.isfile() and n not in ("MANIFEST.json", "FILES.json")}
    assert set(listed) == in_tar
    for name, entry in listed.items():
        assert hashlib.sha256(read_member(tarball, name)).hexdigest() == entry["chksum_sha256"], name


# --- ansible-doc from the installed copy ---------------------------------------------------

def documented_plugins(root: Path) -> dict[str, set[str]]:
    """ansible-doc type -> plugin names, read from the installed copy's plugins/."""
    found: dict[str, set[str]] = {}
    for d in sorted(p for p in (root / "plugins").iterdir() if p.is_dir()):
        if d.name in UNDOCUMENTED_PLUGIN_DIRS or d.name == "__pycache__":
            continue
        ptype = "module" if d.name == "modules" else d.name
        names = {f.stem for f in d.iterdir()
                 if f.suffix in (".py", ".yml", ".yaml") and not f.stem.startswith("_")}
        found[ptype] = names
    return found


def test_every_action_plugin_has_a_documented_module(installed):
    root = installed_root(installed)
    actions = {f.stem for f in (root / "plugins" / "action").glob("*.py") if not f.stem.startswith("_")}
    modules = {f.stem for f in (root / "plugins" / "modules").glob("*.py")}
    assert actions <= modules, f"action plugins without a module to carry their docs: {actions - modules}"


def test_ansible_doc_documents_every_plugin_of_the_installed_copy(installed, doc_env, work):
    root = installed_root(installed)
    found = documented_plugins(root)
    for ptype, floor in KNOWN.items():
        assert floor <= found.get(ptype, set()), (ptype, floor - found.get(ptype, set()))
    checked = 0
    for ptype, names in found.items():
        listed = json.loads(run([BIN / "ansible-doc", "-t", ptype, "--list", "--json", "mailops.smtp"],
                                env=doc_env, cwd=work).stdout)
        fq = sorted(f"mailops.smtp.{n}" for n in names)
        assert set(fq) <= set(listed), (ptype, set(fq) - set(listed))
        if not fq:
            continue
        docs = json.loads(run([BIN / "ansible-doc", "-t", ptype, "--json", *fq], env=doc_env, cwd=work).stdout)
        for name in fq:
            assert name in docs, f"ansible-doc -t {ptype} {name}: not found in the installed copy"
            doc = docs[name]["doc"]
            assert doc["description"] and doc["short_description"], name
            assert Path(doc["filename"]).is_relative_to(root), (name, doc["filename"])
            # A lookup's _terms and a filter's _input are its positional arguments, documented by convention.
            internal = [o for o, d in (doc.get("options") or {}).items()
                        if (o.startswith("_") and o not in ("_terms", "_input")) or str(d.get("description", "")).lstrip("[' ").startswith("Internal")]
            assert not internal, f"{name} shows internal options: {internal}"
            if ptype in ("module", "lookup"):
                assert docs[name]["examples"].strip(), f"{name} has no EXAMPLES"
                assert docs[name]["return"], f"{name} has no RETURN"
        # The text rendering is what users read; it fails on things the JSON does not.
        text = run([BIN / "ansible-doc", "-t", ptype, *fq], env=doc_env, cwd=work)
        assert "not found" not in text.stderr and "ERROR" not in text.stderr, text.stderr
        for name in fq:
            assert name.upper() in text.stdout.upper()
        checked += len(fq)
    assert checked >= sum(len(v) for v in KNOWN.values())


def test_ansible_doc_documents_every_role_of_the_installed_copy(installed, doc_env, work):
    root = installed_root(installed)
    roles = sorted(d.name for d in (root / "roles").iterdir() if d.is_dir())
    assert {"smtp_validate", "smtp_configure"} <= set(roles)
    fq = [f"mailops.smtp.{r}" for r in roles]
    docs = json.loads(run([BIN / "ansible-doc", "-t", "role", "--json", *fq], env=doc_env, cwd=work).stdout)
    for role, name in zip(roles, fq):
        assert name in docs, f"ansible-doc -t role {name}: not found in the installed copy"
        assert Path(docs[name]["path"]) == root
        spec = yaml.safe_load((root / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for entry, want in spec["argument_specs"].items():
            got = docs[name]["entry_points"][entry]
            assert got["short_description"], (name, entry)
            assert set(got.get("options", {})) == set(want.get("options", {})), (name, entry)
    text = run([BIN / "ansible-doc", "-t", "role", *fq], env=doc_env, cwd=work)
    assert "not found" not in text.stderr and "ERROR" not in text.stderr, text.stderr
    for role in roles:
        assert f"mailops.smtp.{role}" in text.stdout


# --- the execution environment -------------------------------------------------------------

def _third_party_imports(root: Path, dirs: tuple[str, ...]) -> dict[str, set[str]]:
    """Top-level modules imported (anywhere, lazily too) by the files in plugins/<dirs>, per module."""
    ours = {"ansible", "ansible_collections", "__future__"}
    found: dict[str, set[str]] = {}
    for d in dirs:
        for f in sorted((root / "plugins" / d).glob("*.py")) if (root / "plugins" / d).is_dir() else []:
            tree = ast.parse(f.read_text(), filename=str(f))
            # An import in an `except ImportError:` is a fallback (Python 2 names), never the one used.
            fallbacks = {id(n) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) for n in ast.walk(h)}
            for node in ast.walk(tree):
                if id(node) in fallbacks:
                    continue
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top not in ours and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(f"{d}/{f.name}")
    return found


def test_ee_requirements_name_every_controller_library(installed):
    root = installed_root(installed)
    imported = _third_party_imports(root, CONTROLLER_DIRS)
    assert {"hvac", "ruamel"} <= set(imported)
    dists = importlib.metadata.packages_distributions()
    reqs = ee_requirements()
    for module, where in imported.items():
        assert module in dists, f"{module} (imported by {sorted(where)}) is not installed here"
        names = {canonicalize_name(d) for d in dists[module]}
        assert names & set(reqs), (f"{module} (imported by {sorted(where)}) is missing from "
                                   f"meta/ee-requirements.txt")


def test_target_code_imports_no_third_party_library(installed):
    # Nothing in ee-requirements.txt reaches the managed hosts.
    assert _third_party_imports(installed_root(installed), TARGET_DIRS) == {}


def test_dependency_file_points_at_ee_requirements():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    assert meta["dependencies"]["python"] == "meta/ee-requirements.txt"


def test_introspect_of_the_installed_tarball_lists_the_requirements(installed, work):
    env = isolated_env(installed)
    env["ANSIBLE_CONFIG"] = str(empty_config(work))
    out = run([BIN / "ansible-builder", "introspect", installed], env=env, cwd=work).stdout
    got = introspected_python(out[out.index("---"):])
    want = ee_requirements()
    assert set(got) == set(want)
    for name, req in want.items():
        assert got[name].specifier == req.specifier, name


def _ee_definition() -> dict:
    return yaml.safe_load((REPO / "docs" / "execution-environment.yml").read_text())


def test_sample_ee_definition_uses_this_release_and_the_tested_core():
    ee = _ee_definition()
    assert ee["version"] == 3
    galaxy = ee["dependencies"]["galaxy"]["collections"]
    assert [Path(c["name"]).name for c in galaxy] == [tarball_name()]
    assert [f["src"] for f in ee["additional_build_files"]] == [tarball_name()]
    pins = dict(line.split("==", 1) for line in (REPO / "requirements-test.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={pins['ansible-core']}"


def test_ansible_builder_create_renders_a_context_with_the_collection(tarball, work):
    ee_dir = work / "ee"
    ee_dir.mkdir()
    shutil.copy(REPO / "docs" / "execution-environment.yml", ee_dir)
    shutil.copy(tarball, ee_dir)
    env = isolated_env(None)
    env["ANSIBLE_CONFIG"] = str(empty_config(work))
    run([BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context",
         "--output-filename", "Containerfile"], env=env, cwd=ee_dir)
    ctx = ee_dir / "context"
    ee = _ee_definition()
    containerfile = (ctx / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{ee["images"]["base_image"]["name"]}"' in containerfile
    assert re.search(r'ARG ANSIBLE_INSTALL_REFS="[^"]*ansible-core==', containerfile)
    assert "ansible-galaxy collection install" in containerfile
    # The image's collection requirements come from introspecting what galaxy installed.
    assert "introspect" in containerfile and "--write-pip" in containerfile

    requirements = yaml.safe_load((ctx / "_build" / "requirements.yml").read_text())
    [entry] = requirements["collections"]
    assert entry["type"] == "file"
    shipped = ctx / "_build" / entry["name"]
    assert shipped.read_bytes() == tarball.read_bytes()

    # The galaxy and builder stages, offline, with the context's own files and script.
    coll = work / "ee-collections"
    run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml", "-p", coll],
        env=isolated_env(coll, {"ANSIBLE_CONFIG": env["ANSIBLE_CONFIG"]}), cwd=ctx / "_build")
    out = run([sys.executable, ctx / "_build" / "scripts" / "introspect.py", "introspect", coll],
              env=env, cwd=ctx / "_build").stdout
    got = introspected_python(out[out.index("---"):] if "---" in out else out)
    assert set(got) == set(ee_requirements())


# --- docs/scale.md ---------------------------------------------------------------------------

SCALE = REPO / "docs" / "scale.md"


def role_options(role_dir):
    """The options of every entry point of a role (smtp_rotate has several, and no main)."""
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    return options


def test_scale_md_survey_asks_for_the_new_credential_as_a_password():
    survey = json.loads(doc_example(SCALE, "survey"))
    fields = {f["variable"]: f for f in survey["spec"]}
    assert fields["smtp_rotate_new_credential"]["type"] == "password"
    for var, field in fields.items():
        if re.search(r"credential|secret|password|token", var):
            assert field["type"] == "password", f"survey field {var} would store a secret in clear"
    rotate_spec = REPO / "roles" / "smtp_rotate" / "meta" / "argument_specs.yml"
    if rotate_spec.is_file():
        options = role_options(rotate_spec.parent.parent)
        for var in fields:
            assert var in options, f"the survey sets {var}, which the smtp_rotate role does not take"


def test_scale_md_concurrency_variable_caps_every_role():
    example = yaml.safe_load(doc_example(SCALE, "concurrency"))
    assert set(example) == {"mailops_smtp_auth_concurrency"}
    found = set()
    for role in sorted(d for d in (REPO / "roles").iterdir() if d.is_dir()):
        options = role_options(role)
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
        tasks = "".join(p.read_text() for p in (role / "tasks").glob("*.yml"))
        for var, opt in options.items():
            if not var.endswith("_auth_concurrency"):
                continue
            found.add(var)
            assert example["mailops_smtp_auth_concurrency"] in opt["choices"] and max(opt["choices"]) <= 3, var
            assert "mailops_smtp_auth_concurrency" in defaults[var], f"{var} does not follow the shared variable"
            assert re.search(r"throttle: \"\{\{ " + var + r" \}\}\"", tasks), f"{role.name} never throttles by {var}"
    assert found and found == set(re.findall(r"smtp_\w+_auth_concurrency", SCALE.read_text()))
