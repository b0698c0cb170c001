# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""GitLab's Graph mailer path on the lab: `_graph_send.send_mail` on a lab host reaches the Graph stand-in.

The configure role writes GitLab's Graph mailer settings from the lab's oauth2 credential in
OpenBao; a test module (library/) run by Ansible on the host reads gitlab.rb with Ruby, as GitLab
does, and sends with `_graph_send.send_mail`: a Graph token from the Entra stand-in, then sendMail
at graph.microsoft.com, which the host's hosts file points at the lab. The stand-in must record the
message as sent through Graph by the credential's app, from that host; a refusal (the app without
Graph's Mail.Send) must come back as Graph's words and the matching diagnosis. Both are checked
under ansible-core 2.21 and, on the Python 3.8 host, 2.19.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.configure.conftest import Configure, wait_for_message

LIBRARY = Path(__file__).resolve().parent / "library"
MODULE = "graph_send_from_gitlab_rb"
GITLAB_RB = "/etc/gitlab/gitlab.rb"
RECIPIENT = "ops@contoso.com"


def lab_vars(lab) -> dict:
    return json.loads((lab.dir / "vars.yml").read_text())


@pytest.fixture(scope="module")
def gitlab_host(lab, tmp_path_factory):
    """The old-Python host, with GitLab's Graph mailer configured from the oauth2 credential in OpenBao."""
    host = lab.state["old_python_host"]
    configure = Configure(lab, tmp_path_factory.mktemp("graph-configure"))

    def clean():
        lab.host_run(host, ["rm", "-rf", "/etc/gitlab", "/etc/mailops-smtp"])
    clean()
    lab.host_run(host, ["sh", "-c", "mkdir -p /etc/gitlab && cat > %s" % GITLAB_RB],
                 input="external_url 'https://gitlab.example.com'\n")
    run = configure.run(host, {"smtp_configure_ca_path": lab.ca,
                               "smtp_configure_vault": lab_vars(lab)["mailops_smtp_vault_oauth"],
                               "smtp_configure_apps": [{"preset": "gitlab"}],
                               "smtp_configure_preset_reload": {"gitlab": "true"}})
    assert run.rc == 0, run.output[-3000:]
    assert "microsoft_graph_mailer_enabled'] = true" in lab.host_run(host, ["cat", GITLAB_RB]).stdout
    yield host
    clean()


def send_from_host(lab, host: str, subject: str, ansible_bin: str = ".venv", inventory: Path | None = None):
    """Run the test module on the host with ad-hoc Ansible; (module result, raw output)."""
    exe = lab.dir.parent / ansible_bin / "bin" / "ansible"
    env = dict(lab.env, ANSIBLE_NOCOLOR="1")
    args = json.dumps({"path": GITLAB_RB, "to": RECIPIENT, "subject": subject, "ca_path": lab.ca})
    p = subprocess.run([str(exe), host, "-i", str(inventory or lab.inventory), "-M", str(LIBRARY), "-m", MODULE,
                        "-a", args, "--one-line"], capture_output=True, text=True, env=env, cwd=str(lab.dir), timeout=180,
                       check=False)
    output = p.stdout + p.stderr
    assert p.returncode == 0, output[-3000:]
    # One line per host: "host1 | SUCCESS => {...}".
    line = next(x for x in p.stdout.splitlines() if x.startswith(host + " | "))
    result = json.loads(line.split(" => ", 1)[1])
    return result, output


def assert_no_secret(standins, output: str) -> None:
    assert standins.app.secret not in output
    for issued in standins.control.issued_tokens():
        assert issued["token"] not in output


@pytest.mark.parametrize("ansible_bin, inventory", [(".venv", None), (".venv-219", "inventory-219.yml")],
                         ids=["core-2.21", "core-2.19-py38"])
def test_graph_send_from_the_gitlab_settings_reaches_the_stand_in(
        lab, standins, gitlab_host, ansible_bin, inventory):
    inv = lab.dir / inventory if inventory else None
    if inv is not None and not inv.exists():
        pytest.skip("this lab has no %s" % inventory)
    subject = "graph proof %s" % uuid.uuid4().hex
    result, output = send_from_host(lab, gitlab_host, subject, ansible_bin, inv)
    graph = result["graph"]
    assert (graph["accepted"], graph["status"], graph["reply"], graph["diagnosis"]) == \
        (True, 202, "202 Accepted", None), graph
    client_id = lab.state["standins"]["client_id"]
    assert result["client_id"] == client_id and result["sender"] == standins.mailbox
    m = wait_for_message(standins, subject)
    assert m["auth_mechanism"] == "graph"
    assert m["auth_app"] == client_id.lower()
    assert m["auth_identity"] == standins.mailbox and m["envelope_from"] == standins.mailbox
    assert m["rcpt_tos"] == [RECIPIENT]
    assert m["message_id"] == graph["message_id"]
    assert m["peer"][0] == lab.host(gitlab_host)["ip"]  # sent from the host, not the controller
    assert_no_secret(standins, output)


def test_graph_refusal_comes_back_in_graphs_words(lab, standins, gitlab_host):
    app, client_id = standins.app, lab.state["standins"]["client_id"]
    before = len(standins.control.messages())
    standins.control.set_app(client_id, tenant=app.tenant_id, secrets=[app.secret],
                             mailboxes=[standins.mailbox], mail_send=False)
    try:
        result, output = send_from_host(lab, gitlab_host, "graph refused %s" % uuid.uuid4().hex)
    finally:
        standins.control.set_app(client_id, tenant=app.tenant_id, secrets=[app.secret],
                                 mailboxes=[standins.mailbox])
    graph = result["graph"]
    assert graph["accepted"] is False and graph["status"] == 403
    assert graph["diagnosis"] == "graph_access_denied"
    assert graph["reply"] == "403 ErrorAccessDenied: Access is denied. Check credentials and try again."
    assert len(standins.control.messages()) == before
    assert_no_secret(standins, output)
