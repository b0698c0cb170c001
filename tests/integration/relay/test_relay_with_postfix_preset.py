# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The relay (connector upstream, on the loopback) and the configure role's postfix preset share host1's Postfix.

The relay writes its upstream through the preset (docs/relay.md, "Who owns which setting"), so a
configure run of the same preset afterwards finds nothing to change and leaves the relay's
listener alone; mail from the loopback then goes through the connector with the client certificate.
"""

from __future__ import annotations

import uuid

from tests.integration.configure.conftest import Configure, header, wait_for_message
from tests.integration.relay.conftest import RELAY, submit_local


def test_relay_and_postfix_preset_share_one_instance(lab, standins, pristine_relay_host, relay_runner,
                                                     tmp_path_factory):
    client = lab.state["pki"]["client"]
    tenant = lab.state["tenant_domain"]
    relay_vars = {
        "smtp_relay_upstream": "connector", "smtp_relay_tenant": tenant, "smtp_relay_ca_path": lab.ca,
        "smtp_relay_client_cert": client["cert"], "smtp_relay_client_key": client["key"],
        "smtp_relay_from_address": standins.mailbox, "smtp_relay_recipient_domains": [tenant],
    }
    run = relay_runner.run(RELAY, relay_vars)
    assert run.rc == 0, run.output[-3000:]

    configure = Configure(lab, tmp_path_factory.mktemp("relay-configure"))
    preset = configure.run(RELAY, {"smtp_configure_ca_path": lab.ca, "smtp_configure_from_address": standins.mailbox,
                                   "smtp_configure_apps": [{"preset": "postfix", "options": {
                                       "mode": "connector", "tenant": tenant,
                                       "client_cert": client["cert"], "client_key": client["key"]}}]})
    assert preset.rc == 0, preset.output[-3000:]
    assert preset.stats(RELAY)["changed"] == 0, preset.changed_tasks()

    conf = lab.host_run(RELAY, ["postconf", "-h", "relayhost", "smtp_tls_cert_file", "inet_interfaces",
                                "smtpd_recipient_restrictions", "default_transport"]).stdout.splitlines()
    assert conf == [f"[{standins.connector_addr[0]}]:25", client["cert"], "loopback-only",
                    f"check_recipient_access inline:{{ {tenant}=OK }}, reject", "smtp"]
    # The xoauth2 transport is not there in this mode.
    assert "mailops_xoauth2" not in lab.host_run(RELAY, ["postconf", "-M"]).stdout
    # A relay on the loopback never offers STARTTLS (Symfony Mailer would upgrade and fail on the name).
    ehlo = lab.host_run(RELAY, [lab.host(RELAY)["python"], "-c", "import smtplib; s = smtplib.SMTP('127.0.0.1', 25, "
                                "timeout=20); s.ehlo(); print(s.has_extn('starttls')); s.quit()"]).stdout
    assert ehlo.strip() == "False"

    subject = f"relay connector {uuid.uuid4().hex}"
    out = submit_local(lab, f"ops@{tenant}", subject, "app@localhost")
    assert out.get("data", [0])[0] == 250, out
    refused = submit_local(lab, "someone@example.net", "not a tenant domain", "app@localhost")
    assert refused["rcpt"][0] == 554, refused
    m = wait_for_message(standins, subject)
    assert m["listener"].startswith("connector") and m["auth_mechanism"] == "certificate"
    assert m["envelope_from"] == standins.mailbox and standins.mailbox in header(m, "From")
