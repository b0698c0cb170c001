# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""GitLab through the move of one host (roles/smtp_migrate/tasks/move.yml), on host2: from SMTP with the basic
credential to its Microsoft Graph mailer with the oauth2 one, proven by send_proof's graph_client (issue 21
§2.3: "GitLab's Graph mailer calls Microsoft Graph ... prove that path").

Before: gitlab.rb on basic auth (SMTP with a password), written by one configure run with the lab's basic
credential. The plan (contract 2, as in test_move_restore.py) moves GitLab to `xoauth2`, which for GitLab is its
Graph mailer. The proof sends a real message through Graph's sendMail with the settings read from the host's own
gitlab.rb (a token from the Entra stand-in, then graph.microsoft.com, which the host's hosts file points at the
lab): the Graph stand-in answers 202 and records the message, which must be there, by its Message-ID, as sent
through Graph by the credential's app from host2.
"""

from __future__ import annotations

import uuid

import pytest
import yaml

from tests.integration.configure.conftest import Configure, read_file
from tests.integration.relay.conftest import pristine_snapshots, restore_host

from .test_move_restore import HOST, STATE_DIR, Mover

GITLAB_RB = "/etc/gitlab/gitlab.rb"
# GitLab is not installed on the lab hosts: its reload (gitlab-ctl reconfigure) is a no-op here.
RELOAD = {"gitlab": "true"}
GITLAB = {"name": "gitlab", "preset": "gitlab"}
CLEAN = "/etc/gitlab /etc/mailops-smtp /var/lib/mailops-smtp /usr/local/lib/mailops-smtp"


def gitlab_plan(changes: bool = True) -> dict:
    return {"host": HOST, "changes": changes,
            "apps": [{"name": "gitlab", "preset": "gitlab", "from": "basic", "to": "xoauth2", "relay": None,
                      "blocked": None}],
            "configure_apps": [GITLAB], "relay": None}


@pytest.fixture(scope="module")
def gitlab_on_basic(lab, standins, tmp_path_factory):
    """host2's GitLab on basic auth (SMTP with a password), written by configure; put back afterwards."""
    snaps = pristine_snapshots(lab, HOST)

    def clean():
        lab.host_run(HOST, ["sh", "-c", f"rm -rf {CLEAN}"])
        restore_host(lab, snaps, HOST)

    clean()
    lab.host_run(HOST, ["sh", "-c", f"mkdir -p /etc/gitlab && cat > {GITLAB_RB}"],
                 input="external_url 'https://gitlab.example.com'\n")
    lab_vars = yaml.safe_load((lab.dir / "vars.yml").read_text())
    configure = Configure(lab, tmp_path_factory.mktemp("gitlab-configure"))
    run = configure.run(HOST, {"smtp_configure_vault": lab_vars["mailops_smtp_vault"],
                               "smtp_configure_ca_path": lab.ca, "smtp_configure_apps": [GITLAB],
                               "smtp_configure_preset_reload": RELOAD})
    assert run.rc == 0, run.output[-4000:]
    before = read_file(lab, HOST, GITLAB_RB)
    # Booleans only: pytest would show the file, which holds the password, in a failed comparison.
    on_basic = "smtp_password" in before and "microsoft_graph_mailer_enabled'] = false" in before
    assert on_basic, "configure did not put GitLab on SMTP with a password"
    try:
        yield Mover(lab, standins, tmp_path_factory.mktemp("gitlab-move"))
    finally:
        clean()


def test_gitlab_moves_to_its_graph_mailer_and_its_proof_is_accepted_by_graph(lab, standins, gitlab_on_basic):
    before = len(standins.control.messages())
    # The lab CA as operators give theirs (mailops_smtp_ca_path): the proof's token request and sendMail trust it.
    run, moved = gitlab_on_basic.run(gitlab_plan(), "test-" + uuid.uuid4().hex[:12], mailops_smtp_ca_path=lab.ca,
                                     smtp_configure_apps=[GITLAB], smtp_configure_preset_reload=RELOAD)
    assert run.rc == 0, run.output[-5000:]
    assert moved is not None and moved["status"] == "moved", (moved, run.output[-5000:])
    proof = moved["apps"][0]["proof"]
    assert moved["apps"][0]["name"] == "gitlab"
    assert (proof["kind"], proof["accepted"], proof["reply"]) == ("graph_client", True, "202 Accepted"), proof
    # The Graph mailer's settings, and no password left in the file.
    rb = read_file(lab, HOST, GITLAB_RB)
    on_graph = "microsoft_graph_mailer_enabled'] = true" in rb and "smtp_enable'] = false" in rb
    leftovers = [k for k in ("smtp_password", "smtp_user_name", "smtp_authentication") if k in rb]
    assert on_graph, "gitlab.rb is not on the Graph mailer"
    assert leftovers == [], "gitlab.rb still holds the SMTP login of basic auth"
    # The message is at the stand-in, once, by its Message-ID: through Graph, by the credential's app, from host2.
    client_id = lab.state["standins"]["client_id"]
    found = [m for m in standins.control.messages()[before:] if m.get("message_id") == proof["message_id"]]
    assert len(found) == 1, (proof["message_id"], standins.control.messages()[before:])
    m = found[0]
    assert m["auth_mechanism"] == "graph" and m["auth_app"] == client_id.lower(), m
    assert m["auth_identity"] == standins.mailbox and m["peer"][0] == lab.host(HOST)["ip"], m
    # No saved copy left, and no token or client secret in the output (Mover checks the secret and password).
    assert lab.host_run(HOST, ["sh", "-c", f"ls -A {STATE_DIR} 2>/dev/null || true"]).stdout.split() == []
    for issued in standins.control.issued_tokens():
        assert issued["token"] not in run.output
