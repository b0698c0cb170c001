# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' copies of the profiles table agree with plugins/module_utils/profiles.py.

Roles are YAML and cannot import the table, so the few facts they need are written out in
their vars files; this keeps those copies from drifting when a profile changes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jinja2
import yaml

from ansible_collections.mailops.smtp.plugins.module_utils.profiles import (
    OAUTH_PROFILES, PROFILE_NAMES, PROFILES)
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation_apps import rotate_apps

ROLES = Path(__file__).resolve().parents[2] / "roles"


def _vars(role: str) -> dict:
    return yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text())


def test_validate_role_knows_every_profile():
    assert _vars("smtp_validate")["__smtp_validate_profiles"] == list(PROFILE_NAMES)


def test_validate_role_knows_the_oauth_profiles():
    assert _vars("smtp_validate")["__smtp_validate_oauth_profiles"] == list(OAUTH_PROFILES)


def test_rotate_role_has_each_oauth_profiles_token_endpoint():
    copied = _vars("smtp_rotate")["smtp_rotate__oauth_profiles"]
    assert copied == {name: [PROFILES[name]["oauth_authority"], PROFILES[name]["oauth_scope"]]
                      for name in OAUTH_PROFILES}


def test_rotate_role_checks_no_app_that_holds_no_credential():
    """A connector (Postfix) and an app in via_relay mode hold no credential: rotation checks neither, and
    their markers (credential none) are not drift."""
    template = _vars("smtp_rotate")["smtp_rotate__apps"]
    apps = [{"preset": "postfix", "options": {"mode": "connector"}},
            {"preset": "grafana", "options": {"mode": "via_relay"}},
            {"preset": "msmtp", "options": {"mode": "via_relay"}}, {"preset": "msmtp"}, {"preset": "django"}]
    # The decision is the rotate_apps filter's (plugin_utils/_rotation_apps.py); the role's template calls it.
    env = jinja2.Environment()
    env.filters["mailops.smtp.rotate_apps"] = rotate_apps
    rendered = env.from_string(template).render(smtp_configure_apps=apps, smtp_rotate__profile="m365",
                                                smtp_rotate__relay=None)
    assert [a["check"] for a in ast.literal_eval(rendered.strip())] == ["none", "none", "none", "msmtp", "probe"]
