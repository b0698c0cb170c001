# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The user docs and the README say only what the collection has (no lab needed).

Every YAML block parses; every `mailops.smtp.*` name exists; every option of a module task,
lookup call or role variable in an example exists in that plugin's DOCUMENTATION or the role's
argument_specs; every internal link (and anchor) resolves; docs/settings.md's table is the
profiles table of plugins/module_utils/profiles.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.mailops.smtp.plugins.doc_fragments.vault import ModuleDocFragment
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import PROFILES

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NAME = re.compile(r"(?<![\w.])mailops\.smtp\.([A-Za-z_][A-Za-z0-9_]*)")
ROLE_VAR = re.compile(r"^(smtp_(?:validate|configure|rotate|relay|migrate))_[a-z0-9_]+$")
SHARED_VAR = re.compile(r"^mailops_smtp_[a-z0-9_]+$")
# The docs this brief owns: every fenced block there carries a marker saying what it is.
MARKED_DOCS = ("getting-started.md", "basic-auth-retirement.md")
MARKER = re.compile(r"<!-- (example|command|output): ([^>]+?) -->\n```")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def blocks(lang: str):
    for doc in DOCS:
        for found_lang, body in FENCE.findall(doc.read_text()):
            if found_lang == lang:
                yield doc, body


# ---- what the collection has ------------------------------------------------------------

def _doc_string(path: Path, var: str = "DOCUMENTATION"):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == var:
            return yaml.safe_load(node.value.value)
    return None


FRAGMENTS = {
    "mailops.smtp.vault": yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"],
    "mailops.smtp.vault.connection": yaml.safe_load(ModuleDocFragment.CONNECTION)["options"],
    "mailops.smtp.vault.plugins": yaml.safe_load(ModuleDocFragment.PLUGINS)["options"],
}


def plugin_options(path: Path) -> dict:
    doc = _doc_string(path)
    options = dict(doc.get("options") or {})
    fragments = doc.get("extends_documentation_fragment") or []
    for frag in [fragments] if isinstance(fragments, str) else fragments:
        if frag in FRAGMENTS:
            for key, spec in FRAGMENTS[frag].items():
                options.setdefault(key, spec)
    return options


MODULES = {p.stem: plugin_options(p) for p in (REPO / "plugins" / "modules").glob("*.py")}
LOOKUPS = {p.stem: plugin_options(p) for p in (REPO / "plugins" / "lookup").glob("*.py")}


def role_options() -> dict:
    out = {}
    for spec_file in (REPO / "roles").glob("*/meta/argument_specs.yml"):
        options = {}
        for entry in yaml.safe_load(spec_file.read_text())["argument_specs"].values():
            options.update(entry.get("options") or {})
        out[spec_file.parent.parent.name] = options
    return out


ROLES = role_options()
PLAYBOOKS = {p.stem for p in (REPO / "playbooks").glob("*.yml")}
PLUGIN_NAMES = {p.stem for kind in ("modules", "action", "lookup", "callback", "filter", "test", "doc_fragments")
                for p in (REPO / "plugins" / kind).glob("*.py") if not p.stem.startswith("_")}
ALL_ROLE_OPTIONS = {name: spec for options in ROLES.values() for name, spec in options.items()}
# Play-level variables a playbook reads itself (hosts, serial, ...), and the shared variables the
# roles default to.
PLAYBOOK_VARS = {v for p in (REPO / "playbooks").glob("*.yml")
                 for v in re.findall(r"\b(smtp_(?:validate|configure|rotate|migrate)_[a-z0-9_]+)", p.read_text())
                 if "__" not in v}
SHARED_VARS = {v for p in (REPO / "roles").glob("*/defaults/main.yml")
               for v in re.findall(r"\b(mailops_smtp_[a-z0-9_]+)", p.read_text())}


def names_of(spec: dict) -> set:
    out = set()
    for name, opt in spec.items():
        out.add(name)
        out.update((opt or {}).get("aliases") or [])
    return out


def _lookup_option(spec: dict, key: str):
    for name, opt in spec.items():
        if key == name or key in ((opt or {}).get("aliases") or []):
            return opt or {}
    return None


def check_options(value, spec: dict, where: str, problems: list):
    """Every key of `value` is an option in `spec`; recurse into suboptions."""
    if not isinstance(value, dict):
        return
    for key, sub in value.items():
        opt = _lookup_option(spec, key)
        if opt is None:
            problems.append("%s: unknown option %r (known: %s)" % (where, key, ", ".join(sorted(names_of(spec)))))
            continue
        nested = opt.get("suboptions") or opt.get("options")
        if nested:
            for item in sub if isinstance(sub, list) else [sub]:
                check_options(item, nested, "%s.%s" % (where, key), problems)


def check_vars(mapping: dict, where: str, problems: list):
    """Top-level variables: role variables and shared ones must exist, with their options."""
    for key, value in mapping.items():
        if not isinstance(key, str):
            continue
        if ROLE_VAR.match(key):
            if key in ALL_ROLE_OPTIONS:
                spec = ALL_ROLE_OPTIONS[key]
                nested = spec.get("options")
                if nested:
                    for item in value if isinstance(value, list) else [value]:
                        check_options(item, nested, "%s: %s" % (where, key), problems)
                elif key.endswith("_vault") and isinstance(value, dict):
                    # smtp_<role>_vault: a plain dict in the role's spec whose keys are the
                    # options of vault_credentials (a user trial tripped on made-up auth keys).
                    check_options(value, MODULES["vault_credentials"], "%s: %s" % (where, key), problems)
            elif key not in PLAYBOOK_VARS:
                problems.append("%s: %s is not a variable of any role or playbook" % (where, key))
        elif SHARED_VAR.match(key):
            if key not in SHARED_VARS:
                problems.append("%s: %s is not a shared variable the roles read" % (where, key))
            elif key.startswith("mailops_smtp_vault") and isinstance(value, dict):
                check_options(value, MODULES["vault_credentials"], "%s: %s" % (where, key), problems)


def walk(node, where: str, problems: list):
    """Module tasks, role includes and variable mappings anywhere in a parsed YAML example."""
    if isinstance(node, list):
        if node and all(isinstance(i, dict) and ("preset" in i or "format" in i) for i in node):
            # A bare list of applications: the items of smtp_configure_apps (configure.md's preset blocks).
            check_vars({"smtp_configure_apps": node}, where, problems)
            return
        for item in node:
            walk(item, where, problems)
        return
    if not isinstance(node, dict):
        return
    check_vars(node, where, problems)
    for key, value in node.items():
        if isinstance(key, str) and key.startswith("mailops.smtp."):
            short = key.split(".", 2)[2]
            if short in MODULES:
                check_options(value, MODULES[short], "%s: %s" % (where, key), problems)
            elif short not in PLUGIN_NAMES:
                problems.append("%s: no module %s" % (where, key))
        elif key == "vars" and isinstance(value, dict):
            check_vars(value, where, problems)
        elif isinstance(value, (dict, list)) and not (
                isinstance(key, str) and (ROLE_VAR.match(key) or SHARED_VAR.match(key))):
            walk(value, where, problems)      # a variable's value was checked by check_vars


# ---- the tests ---------------------------------------------------------------------------

def test_the_docs_this_brief_owns_exist():
    for name in ("getting-started.md", "settings.md", "basic-auth-retirement.md"):
        assert (REPO / "docs" / name).is_file(), name


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_every_yaml_block_parses(doc):
    found = [body for lang, body in FENCE.findall(doc.read_text()) if lang in ("yaml", "yml")]
    for body in found:
        try:
            yaml.safe_load(body)
        except yaml.YAMLError as exc:
            pytest.fail("%s: a yaml block does not parse: %s\n%s" % (rel(doc), exc, body))


def test_the_fence_parser_sees_every_block():
    # An odd number of fences would make FENCE pair them wrongly and skip blocks silently.
    for doc in DOCS:
        text = doc.read_text()
        assert len(re.findall(r"^```", text, re.M)) == 2 * len(FENCE.findall(text)), rel(doc)


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_every_collection_name_exists(doc):
    known = PLUGIN_NAMES | set(ROLES) | PLAYBOOKS
    unknown = sorted(set(NAME.findall(doc.read_text())) - known)
    assert not unknown, "%s names mailops.smtp.%s, which the collection does not have" % (rel(doc), unknown)


def test_options_in_yaml_examples_exist():
    problems = []
    seen_tasks = 0
    for doc, body in list(blocks("yaml")) + list(blocks("yml")):
        try:
            data = yaml.safe_load(body)
        except yaml.YAMLError:
            continue      # reported by test_every_yaml_block_parses
        seen_tasks += body.count("mailops.smtp.")
        walk(data, rel(doc), problems)
    assert not problems, "\n".join(problems)
    assert seen_tasks, "no YAML example uses the collection: the walk above checked nothing"


def test_lookup_keywords_exist():
    problems, calls = [], 0
    for doc in DOCS:
        for name, args in re.findall(r"lookup\(\s*['\"]mailops\.smtp\.(\w+)['\"](.*?)\)\s*\}\}", doc.read_text(), re.S):
            calls += 1
            spec = LOOKUPS.get(name)
            if spec is None:
                problems.append("%s: no lookup mailops.smtp.%s" % (rel(doc), name))
                continue
            for kw in re.findall(r"(?<![\w.'\"])(\w+)\s*=", args):
                if _lookup_option(spec, kw) is None:
                    problems.append("%s: lookup %s has no option %r" % (rel(doc), name, kw))
    assert not problems, "\n".join(problems)
    assert calls or not any("lookup('mailops.smtp." in d.read_text() for d in DOCS)


def test_variables_on_command_lines_exist():
    problems = []
    for doc in DOCS:
        for name in re.findall(r"-e\s+['\"]?((?:smtp_\w+|mailops_smtp_\w+))=", doc.read_text()):
            if name not in ALL_ROLE_OPTIONS and name not in PLAYBOOK_VARS and name not in SHARED_VARS:
                problems.append("%s: -e %s is not a variable the collection reads" % (rel(doc), name))
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_option():
    problems = []
    walk([{"mailops.smtp.probe": {"profile": "m365", "prot": 587}},
          {"mailops_smtp_vault": {"url": "https://v", "auth": {"method": "token", "tokenfile": "/x"}}},
          {"smtp_validate_auth_host": "one"},
          {"smtp_configure_apps": [{"preset": "msmtp", "option": {}}]},
          {"smtp_migrate_vault": {"path": "p", "auth": {"method": "approle", "role_id_file": "/x"}}}],
         "self-test", problems)
    text = "\n".join(problems)
    for bad in ("'prot'", "'tokenfile'", "smtp_validate_auth_host ", "'option'", "'role_id_file'"):
        assert bad in text, (bad, text)
    assert len(problems) == 5


def _slug(heading: str) -> str:
    # GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
    text = re.sub(r"[`*_]", lambda m: "_" if m.group() == "_" else "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(doc: Path) -> set:
    text = FENCE.sub("", doc.read_text())
    found = {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}
    found |= set(re.findall(r"<a (?:id|name)=\"([^\"]+)\"", text))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_internal_links_resolve(doc):
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue      # http:, https:, mailto:
        path, anchor = target.partition("#")[::2]
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target + " (no such heading)")
    assert not broken, "%s links to %s" % (rel(doc), broken)


def test_slugs_follow_github():
    assert _slug("The fetch-once pattern (use this)") == "the-fetch-once-pattern-use-this"
    assert _slug("XOAUTH2 for msmtp: the token refresher") == "xoauth2-for-msmtp-the-token-refresher"
    assert _slug("basic_auth_retired") == "basic_auth_retired"


# ---- docs/settings.md is profiles.py -----------------------------------------------------

SECURITY = {"starttls": "STARTTLS", "tls": "implicit TLS", "none": "none"}


def expected_settings_rows() -> dict:
    rows = {}
    for name, prof in PROFILES.items():
        if name == "custom":
            continue      # no fixed server: not a setting to look up
        open_ports = [p for p in prof["ports"] if p["expect"] == "open"]
        rows[name] = {
            "server": prof["host"].replace("{tenant}", "<tenant>"),
            "port": ", ".join(str(p["port"]) for p in open_ports),
            "encryption": ", ".join(sorted({SECURITY[p["security"]] for p in open_ports})),
            "authentication": ", ".join(m.upper() for m in prof["auth_mechanisms"]) or "none",
            "not offered": ", ".join(str(p["port"]) for p in prof["ports"] if p["expect"] == "not_offered"),
            "oauth authority": prof["oauth_authority"] or "",
            "oauth scope": prof["oauth_scope"] or "",
        }
    return rows


def settings_table() -> dict:
    text = (REPO / "docs" / "settings.md").read_text()
    section = text.split("## The settings", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    cells = [[c.strip().strip("`") for c in ln.strip("|").split("|")] for ln in lines]
    header = [c.lower() for c in cells[0]]
    assert set(cells[1]) <= {"---", ":---", "---:", ":---:"}, "the second row must be the separator"
    rows = {}
    for row in cells[2:]:
        assert len(row) == len(header), row
        record = dict(zip(header, row))
        profile = record.pop("profile")
        rows[profile] = {k: v for k, v in record.items() if k != "cloud"}
    return rows


def test_settings_table_is_the_profiles_table():
    assert settings_table() == expected_settings_rows()


def test_settings_table_check_sees_a_change(monkeypatch):
    monkeypatch.setitem(PROFILES["m365"], "host", "smtp.example.invalid")
    assert settings_table() != expected_settings_rows()


def test_settings_says_the_facts_plainly():
    text = (REPO / "docs" / "settings.md").read_text()
    assert all(p["expect"] == "not_offered" for name in ("m365", "m365_gcc_high", "m365_dod", "m365_china")
               for p in PROFILES[name]["ports"] if p["port"] == 465)
    assert "**Port 465 is not offered.**" in text
    assert "`535 5.7.3 Authentication unsuccessful` | Microsoft 365's reply to a bad credential" in text
    assert "`535 5.7.8` | the bad-credential reply of RFC 4954, Gmail and other providers, **not** Microsoft 365's" in text
    for fact in ("TLS 1.2 or newer", "**No PLAIN.**", "**3 connections sending at once.**", "**30 messages a minute.**",
                 "**10,000 recipients a day.**", "carried over to the",
                 "SMTP AUTH client submission", "direct send", "SMTP relay through a connector"):
        assert fact in text, fact


def test_no_doc_offers_465_or_5_7_8_as_microsoft_365s():
    for doc in DOCS:
        text = doc.read_text()
        assert not re.search(r"smtp\.office365\.(com|us)[:\s,]+(port\s+)?465", text), rel(doc)
        # The article's error: 5.7.8 is RFC 4954's and Gmail's code, not Microsoft 365's.
        assert "535 5.7.8 Authentication Failed" not in text, rel(doc)
        assert not re.search(r"Microsoft 365 (answers|replies|returns|rejects)[^.\n]{0,40}5\.7\.8", text), rel(doc)


def test_retirement_doc_has_the_dates_and_the_reply():
    text = (REPO / "docs" / "basic-auth-retirement.md").read_text()
    for fact in ("**disabled by default for existing tenants**", "**New tenants** cannot use it",
                 "`550 5.7.30 Basic authentication is not supported for Client Submission`",
                 "second half of 2027", "`Mail.Send`", "mode: connector"):
        assert fact in text, fact
    for preset in ("msmtp", "gitlab", "postfix", "grafana", "nextcloud", "spring", "laravel", "django"):
        assert "`%s`" % preset in text, preset


# ---- getting started and the README -------------------------------------------------------

@pytest.mark.parametrize("name", MARKED_DOCS)
def test_every_block_is_marked(name):
    text = (REPO / "docs" / name).read_text()
    assert len(MARKER.findall(text)) == len(FENCE.findall(text)), "%s has a code block without a marker" % name


def marked(name: str, example: str) -> str:
    text = (REPO / "docs" / name).read_text()
    found = re.findall(r"<!-- example: %s -->\n```\w*\n(.*?)^```" % re.escape(example), text, re.S | re.M)
    assert len(found) == 1, (name, example)
    return found[0]


def test_getting_started_installs_what_ships():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    install = marked("getting-started.md", "install")
    assert "ansible-galaxy collection install %s-%s-%s.tar.gz" % (
        galaxy["namespace"], galaxy["name"], galaxy["version"]) in install
    req_path = re.search(r"ansible_collections/mailops/smtp/(\S+)", install).group(1)
    requirements = (REPO / req_path).read_text()
    for lib in ("hvac", "ruamel.yaml", "requests"):
        assert re.search(r"^%s\b" % re.escape(lib), requirements, re.M), lib
    assert "ansible-playbook mailops.smtp.validate -i inventory" in marked("getting-started.md", "validate")
    group_vars = yaml.safe_load(marked("getting-started.md", "group-vars"))
    assert group_vars["mailops_smtp_vault"]["auth"] == {"method": "token", "token_file": "/etc/mailops/vault-token"}


def test_readme_example_names_real_variables():
    text = (REPO / "README.md").read_text()
    body = re.findall(r"<!-- example: readme -->\n```yaml\n(.*?)^```", text, re.S | re.M)
    assert len(body) == 1
    data = yaml.safe_load(body[0])
    assert isinstance(data, dict) and len(body[0].splitlines()) <= 10
    problems = []
    check_vars(data, "README", problems)
    assert not problems, problems
    for key in data:
        assert key in SHARED_VARS or key in ALL_ROLE_OPTIONS, key
    assert "make demo" in text and "make test" in text
    assert "ansible-playbook mailops.smtp.validate -i inventory" in text


def test_readme_links_every_user_doc():
    text = (REPO / "README.md").read_text()
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)\)", text))
    assert {p.name for p in (REPO / "docs").glob("*.md")} <= linked


# What a user reads first: what it is, install, an example, the docs; the developer's part last.
README_SECTIONS = ["Install", "Example", "Docs", "Develop and test"]


def readme_sections(text: str) -> list[str]:
    return re.findall(r"^## (.+?)\s*$", strip_fences(text), re.M)


def strip_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def test_readme_sections_come_in_the_users_order():
    text = (REPO / "README.md").read_text()
    assert text.startswith("# mailops.smtp\n")
    intro = text[:text.index("\n## ")]
    assert "Microsoft 365" in intro and len(intro.splitlines()) > 3, "the README opens with what the collection is"
    assert readme_sections(text) == README_SECTIONS
    develop = text[text.index("## Develop and test"):]
    assert "make demo" in develop and "make test" in develop
    before = text[:text.index("## Develop and test")]
    assert "make " not in before and "tests/" not in before, "development commands belong under Develop and test"
    install = text[text.index("## Install"):text.index("## Example")]
    assert "ansible-galaxy collection install mailops.smtp" in install and "hvac" in install


def test_readme_section_check_sees_a_wrong_order():
    text = "# mailops.smtp\n\n## Example\n\n```sh\n## not a heading\n```\n\n## Install\n"
    assert readme_sections(text) == ["Example", "Install"] != README_SECTIONS


def test_project_urls_are_galaxy_ymls():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    known = {galaxy[k] for k in ("repository", "documentation", "homepage", "issues")}
    host = re.escape(galaxy["repository"].split("/")[2])
    used = set()
    for doc in DOCS:
        used |= {u.rstrip(".,)") for u in re.findall(r"https?://%s[^\s`>\"']*" % host, doc.read_text())}
    assert used and used <= known, used - known
