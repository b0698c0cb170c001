# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The `via-relay` block of docs/basic-auth-retirement.md (and configure.md's `via-relay-laravel`, a
designated relay host), run through the role on the lab (issue 20 section 2).

host1 starts with msmtp and Grafana logging in with a mailbox password (the direct way). The doc's
block then moves them to `options.mode: via_relay` behind the host's own Postfix in connector mode,
with no credential given at all: the role fetches none, the old password leaves both files, msmtp
sends through Postfix on loopback without TLS or login, and the stand-in receives the message
through the connector. A third run changes nothing.
"""

from __future__ import annotations

import uuid

from tests.integration.configure.conftest import wait_for_message

from .conftest import CONFIGURE_DOC, RETIREMENT_DOC, doc_example, failures, host_read, host_sh, pick

SECRET = pick("a'\"'\"b")[0]
FILES = ("/etc/msmtprc", "/etc/grafana/grafana.ini")


def test_apps_move_to_the_relay_with_no_credential(lab, standins, configure, connector_host):
    h = connector_host
    host_sh(lab, h, "rm -rf /etc/msmtprc /etc/grafana /srv/shop && mkdir -p /etc/grafana /srv/shop")
    try:
        direct = {"smtp_configure_credential": {"type": "basic", "username": standins.mailbox, "password": SECRET},
                  "smtp_configure_preflight": False,
                  "smtp_configure_apps": [{"preset": "msmtp"}, {"preset": "grafana"}]}
        run = configure.run(h, direct)
        assert run.rc == 0, failures(run)
        assert all(SECRET in host_read(lab, h, f) for f in FILES)

        example = doc_example(RETIREMENT_DOC, "via-relay")
        assert [a["options"]["mode"] for a in example["smtp_configure_apps"]] == ["connector", "via_relay", "via_relay"]
        # No smtp_configure_credential and no Vault: only the connector's preflight runs.
        # configure.md's Laravel app behind a designated relay host rides along: written, not sent from.
        laravel = doc_example(CONFIGURE_DOC, "via-relay-laravel")
        role_vars = dict(example, smtp_configure_ca_path=lab.ca, smtp_configure_from_address=standins.mailbox,
                         smtp_configure_apps=example["smtp_configure_apps"] + laravel)
        run = configure.run(h, role_vars)
        assert run.rc == 0, failures(run)
        assert SECRET not in run.output
        rc, ini = (host_read(lab, h, f) for f in FILES)
        assert SECRET not in rc + ini and standins.mailbox in rc
        block = rc.split("account mailops\n", 1)[1].splitlines()
        assert {'host "127.0.0.1"', "port 25", "tls off", "auth off"} <= set(block)
        assert not [line for line in block if line.startswith(("user", "password"))]
        smtp = ini.split("[smtp]\n", 1)[1].splitlines()
        assert "host = 127.0.0.1:25" in smtp and "startTLS_policy = NoStartTLS" in smtp
        assert not [line for line in smtp if line.startswith(("user", "password"))]

        env = host_read(lab, h, "/srv/shop/.env").splitlines()
        assert {'MAIL_HOST="relay1.example.com"', "MAIL_PORT=25", 'MAIL_ENCRYPTION="tls"'} <= set(env), env
        assert not [line for line in env if line.startswith(("MAIL_USERNAME", "MAIL_PASSWORD"))]

        subject = "via relay %s" % uuid.uuid4().hex
        p = lab.host_run(h, ["msmtp", "-C", "/etc/msmtprc", "-a", "mailops", "ops@contoso.com"], check=False,
                         input="From: %s\nTo: ops@contoso.com\nSubject: %s\n\nfrom msmtp through Postfix\n"
                         % (standins.mailbox, subject))
        assert p.returncode == 0, p.stderr[-500:]
        m = wait_for_message(standins, subject)
        assert m["listener"].startswith("connector") and m["auth_mechanism"] == "certificate"

        again = configure.run(h, role_vars)
        assert again.rc == 0 and again.stats(h)["changed"] == 0, again.changed_tasks() or failures(again)
    finally:
        host_sh(lab, h, "rm -rf /etc/msmtprc /etc/grafana /srv/shop")
