# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""GitLab moved off basic auth to its Microsoft Graph mailer (issue 21, §2.2): the SMTP login goes with it.

A gitlab.rb written the direct way (SMTP with a mailbox password), then with an oauth2 credential: the Graph
mailer's settings, and no SMTP password, user or authentication left in the file (the lab test
tests/integration/migrate/test_move_gitlab_graph.py found the password left behind).
"""

from __future__ import annotations

from pathlib import Path

from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from tests.local_runner import run_local

PASSWORD = "Old-Secret-pw!42"
CLIENT_SECRET = "app-Secret~value"
USER = "svc@contoso.com"
SMTP = {"host": "smtp.office365.com", "port": 587}
BASIC = {"type": "basic", "username": USER, "password": PASSWORD,
         "vault": {"path": "smtp/basic", "mount": "secret", "version": 1}}
OAUTH = {"type": "oauth2", "username": USER, "tenant_id": "t-1", "client_id": "c-1", "client_secret": CLIENT_SECRET,
         "vault": {"path": "smtp/app", "mount": "secret", "version": 1}}


def run(params):
    return engine.execute(params, "k", run_local, check_mode=False, want_diff=True)


def test_the_graph_mailer_leaves_no_smtp_login_behind(tmp_path):
    rb = tmp_path / "gitlab.rb"
    rb.write_text("external_url 'https://gitlab.example.com'\n")
    base = dict(preset="gitlab", path=str(rb), smtp=SMTP, options={})
    run(dict(base, credential=BASIC))
    assert PASSWORD in rb.read_text() and "smtp_user_name" in rb.read_text()
    result = run(dict(base, credential=OAUTH))
    text = Path(rb).read_text()
    assert result["changed"]
    assert "gitlab_rails['microsoft_graph_mailer_enabled'] = true" in text
    assert "gitlab_rails['smtp_enable'] = false" in text
    for gone in (PASSWORD, "smtp_password", "smtp_user_name", "smtp_authentication"):
        assert gone not in text, gone
    assert "external_url 'https://gitlab.example.com'" in text
    assert PASSWORD not in str(result["diff"]) and CLIENT_SECRET not in str(result["diff"])
    assert not run(dict(base, credential=OAUTH))["changed"], "a second run changed the file"
