# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The first release reads like a first release (no lab needed).

Until `changelogs/changelog.yaml` records a release, nothing was ever released, so:
- new modules, plugins and roles get no fragment of their own: antsibull-changelog lists them
  from their `version_added`, which every plugin and role entry point carries;
- a fix, a speed-up, a test or a benchmark of that unreleased code is `trivial`;
- what a user of the first release would notice beyond those lists is `minor_changes`;
- one fragment holds the `release_summary`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FRAGMENTS = sorted((REPO / "changelogs" / "fragments").glob("*.y*ml"))
BEFORE_FIRST_RELEASE = {"release_summary", "minor_changes", "known_issues", "trivial"}
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


def released() -> dict:
    return yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text()).get("releases") or {}


def misplaced(fragments: dict[str, dict]) -> dict[str, set[str]]:
    """Fragment name -> the sections it may not use before the first release."""
    return {name: set(data) - BEFORE_FIRST_RELEASE for name, data in fragments.items()
            if set(data) - BEFORE_FIRST_RELEASE}


def load_fragments() -> dict[str, dict]:
    return {f.name: yaml.safe_load(f.read_text()) or {} for f in FRAGMENTS}


def test_before_the_first_release_fragments_use_only_first_release_sections():
    if released():
        return
    assert not misplaced(load_fragments()), (
        "nothing is released yet: fixes and new plugins of unreleased code go under trivial", misplaced(load_fragments()))


def test_the_rule_sees_a_fix_of_unreleased_code():
    assert misplaced({"x.yml": {"bugfixes": ["probe - ..."], "trivial": ["..."]}}) == {"x.yml": {"bugfixes"}}


def test_one_release_summary_for_the_coming_release():
    if VERSION in released():
        return
    summaries = [name for name, data in load_fragments().items() if "release_summary" in data]
    assert len(summaries) == 1, summaries


def test_every_plugin_and_role_entry_point_has_version_added():
    missing = []
    for spec in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        for entry, data in yaml.safe_load(spec.read_text())["argument_specs"].items():
            if not data.get("version_added") or not data.get("short_description") or not data.get("description"):
                missing.append("%s %s" % (spec.parts[-3], entry))
    for plugin in sorted((REPO / "plugins").glob("*/*.py")):
        if plugin.parent.name in ("modules", "lookup", "filter", "test", "callback", "inventory") and \
                not plugin.name.startswith("_"):
            text = plugin.read_text()
            if 'DOCUMENTATION = r"""' not in text and plugin.with_suffix(".yml").is_file():
                continue   # a filter or test documented in its .yml, checked below
            doc = yaml.safe_load(text[text.index('DOCUMENTATION = r"""') + 20:text.index('"""', text.index(
                'DOCUMENTATION = r"""') + 20)])
            if not doc.get("version_added"):
                missing.append(str(plugin.relative_to(REPO)))
    # Filters and tests may keep their docs in a .yml of their own name (several in one .py).
    for doc_file in sorted((REPO / "plugins").glob("*/*.yml")):
        if doc_file.parent.name in ("filter", "test"):
            if not (yaml.safe_load(doc_file.read_text()).get("DOCUMENTATION") or {}).get("version_added"):
                missing.append(str(doc_file.relative_to(REPO)))
    assert not missing, missing
    assert (REPO / "roles" / "smtp_rotate" / "tasks" / "main.yml").is_file()
