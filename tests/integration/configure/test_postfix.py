# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""host1: the real Postfix, configured by the role, relays through the Microsoft 365 stand-ins."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from .conftest import POSTFIX_FILES, header, postfix_reloads, sha256s, temp_files, wait_for_message

HOST = "host1"


def sendmail(lab, subject: str, sender: str = "root") -> None:
    msg = f"From: {sender}\nTo: ops@contoso.com\nSubject: {subject}\n\nfrom host1\n"
    lab.host_run(HOST, ["sendmail", "-f", sender, "ops@contoso.com"], input=msg)


def test_relay_delivers_authenticated_as_the_mailbox(lab, standins, configure, fresh_postfix, basic_cred,
                                                     base_vars):
    role_vars = dict(base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "postfix"}])
    reloads = postfix_reloads(lab, HOST)
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, run.output[-3000:]
    assert run.stats(HOST)["changed"] >= 1
    assert postfix_reloads(lab, HOST) == reloads + 1  # once, though two files changed

    subject = f"configure relay {uuid.uuid4().hex}"
    sendmail(lab, subject)
    m = wait_for_message(standins, subject)
    assert m["listener"].startswith("smtp")
    assert m["auth_mechanism"] == "LOGIN"
    assert m["auth_identity"] == standins.mailbox
    # root@host1 is rewritten to the mailbox, in the envelope and in From:
    assert m["envelope_from"] == standins.mailbox
    assert standins.mailbox in header(m, "From")

    # Idempotence: nothing changes, nothing is reloaded.
    again = configure.run(HOST, role_vars)
    assert again.rc == 0, again.output[-3000:]
    assert again.stats(HOST)["changed"] == 0
    assert postfix_reloads(lab, HOST) == reloads + 1


def test_check_mode_changes_nothing(lab, configure, fresh_postfix, basic_cred, base_vars):
    before = sha256s(lab, HOST, POSTFIX_FILES)
    role_vars = dict(base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=[{"preset": "postfix"}])
    run = configure.run(HOST, role_vars, "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert run.stats(HOST)["changed"] >= 1  # it reports what a real run would do...
    assert sha256s(lab, HOST, POSTFIX_FILES) == before  # ...and does none of it
    assert temp_files(lab, HOST, "/etc/postfix") == []
    assert basic_cred["password"] not in run.output


def test_connector_with_client_certificate(lab, standins, configure, fresh_postfix, base_vars):
    pki = lab.state["pki"]["client"]
    role_vars = dict(base_vars, smtp_configure_from_address=standins.mailbox, smtp_configure_apps=[{
        "preset": "postfix",
        "options": {"mode": "connector", "tenant": lab.state["tenant_domain"],
                    "client_cert": pki["cert"], "client_key": pki["key"]},
    }])
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, run.output[-3000:]
    conf = lab.host_run(HOST, ["postconf", "-h", "relayhost", "smtp_sasl_auth_enable", "smtp_tls_cert_file"]).stdout
    assert conf.split() == [f"[{standins.connector_addr[0]}]:25", "no", pki["cert"]]

    subject = f"configure connector {uuid.uuid4().hex}"
    sendmail(lab, subject)
    m = wait_for_message(standins, subject)
    assert m["listener"].startswith("connector")
    # host1 is not an allowed source address: only the certificate lets it relay.
    allowed = json.loads(Path(lab.state["standins"]["config"]).read_text())["connector"]["allowed_sources"]
    assert lab.host(HOST)["ip"] not in allowed
    assert m["auth_mechanism"] == "certificate"
    assert m["envelope_from"] == standins.mailbox

    again = configure.run(HOST, role_vars)
    assert again.rc == 0 and again.stats(HOST)["changed"] == 0, again.changed_tasks() or again.output[-3000:]
