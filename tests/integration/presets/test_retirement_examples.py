# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The configuration blocks of docs/basic-auth-retirement.md, run through the role on the lab.

- `msmtp` and `gitlab` with an OAuth 2.0 app credential (inline here; the doc's `oauth-vault`
  block fetches the same object from Vault and is not run by this suite): msmtp sends with
  XOAUTH2 through the token refresher, GitLab's Graph mailer settings come back from Ruby.
- `postfix-connector`, with the endpoint variable the block sets: Postfix relays by certificate.
The app's client secret is a hostile one; the stand-in's token endpoint checks it.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration.configure.conftest import wait_for_message

from tests.integration._readers import hexes

from .conftest import RELOAD_LOG, RETIREMENT_DOC, doc_example, failures, host_read, host_sh, pick

SECRET = pick("a'\"'\"b")[0]
GITLAB_LOG = "sh -c 'echo gitlab-ctl reconfigure >> %s'" % RELOAD_LOG


@pytest.fixture
def oauth_host(lab):
    host = "host2"

    def clean():
        host_sh(lab, host, "rm -rf /etc/msmtprc /etc/msmtprc.* /etc/gitlab /etc/mailops-smtp /var/lib/mailops-smtp "
                           "/etc/cron.d/mailops-smtp-token-mailops %s" % RELOAD_LOG)
    clean()
    host_sh(lab, host, 'mkdir -p /etc/gitlab && cat > /etc/gitlab/gitlab.rb',
            input="external_url 'https://gitlab.example.com'\n")
    yield host
    clean()


def test_msmtp_and_gitlab_move_to_oauth(lab, standins, configure, oauth_host):
    h = oauth_host
    box = "presets-oauth-%s@contoso.com" % uuid.uuid4().hex[:8]
    client_id = "presets-%s" % uuid.uuid4()
    standins.control.set_mailbox(box, passwords=[])
    standins.control.set_app(client_id, tenant=standins.app.tenant_id, secrets=[SECRET], mailboxes=[box])
    cred = {"type": "oauth2", "username": box, "tenant_id": standins.app.tenant_id, "client_id": client_id,
            "client_secret": SECRET}
    apps = doc_example(RETIREMENT_DOC, "msmtp")["smtp_configure_apps"] + \
        doc_example(RETIREMENT_DOC, "gitlab")["smtp_configure_apps"]
    role_vars = {"smtp_configure_ca_path": lab.ca, "smtp_configure_credential": cred, "smtp_configure_apps": apps,
                 "smtp_configure_preset_reload": {"postfix": "postfix reload", "gitlab": GITLAB_LOG}}
    try:
        run = configure.run(h, role_vars)
        assert run.rc == 0, failures(run)
        assert SECRET not in run.output
        rc = host_read(lab, h, "/etc/msmtprc")
        assert "auth xoauth2" in rc and 'passwordeval "cat /var/lib/mailops-smtp/mailops.token"' in rc
        subject = "presets xoauth2 %s" % uuid.uuid4().hex
        p = lab.host_run(h, ["msmtp", "-C", "/etc/msmtprc", "ops@contoso.com"], check=False,
                         input="From: %s\nTo: ops@contoso.com\nSubject: %s\n\nfrom host2\n" % (box, subject))
        assert p.returncode == 0, p.stderr[-500:]
        m = wait_for_message(standins, subject)
        assert (m["auth_mechanism"], m["auth_identity"]) == ("XOAUTH2", box)

        rb = ("gitlab_rails = {}\ndef external_url(u); end\n"
              "eval(File.read(ARGV[0], encoding: 'UTF-8'), binding)\n"
              "puts %w[smtp_enable microsoft_graph_mailer_enabled microsoft_graph_mailer_user_id"
              " microsoft_graph_mailer_tenant microsoft_graph_mailer_client_id microsoft_graph_mailer_client_secret]"
              ".map { |k| gitlab_rails[k].to_s.unpack1('H*') }\n")
        out = lab.host_run(h, ["ruby", "-e", rb, "/etc/gitlab/gitlab.rb"]).stdout
        assert hexes(out) == ["false", "true", box, standins.app.tenant_id, client_id, SECRET]
        assert host_read(lab, h, RELOAD_LOG).splitlines() == ["gitlab-ctl reconfigure"]

        again = configure.run(h, role_vars)
        assert again.rc == 0 and again.stats(h)["changed"] == 0, again.changed_tasks() or failures(again)
    finally:
        standins.control.remove_app(client_id)


def test_postfix_connector_example(lab, standins, configure, connector_host):
    h = connector_host
    role_vars = dict(doc_example(RETIREMENT_DOC, "postfix-connector"), smtp_configure_ca_path=lab.ca,
                     smtp_configure_from_address=standins.mailbox)
    run = configure.run(h, role_vars)
    assert run.rc == 0, failures(run)
    conf = lab.host_run(h, ["postconf", "-h", "relayhost", "smtp_sasl_auth_enable", "smtp_tls_cert_file"]).stdout
    assert conf.split() == ["[contoso-com.mail.protection.outlook.com]:25", "no", "/etc/ssl/relay/client.pem"]
    subject = "presets retirement connector %s" % uuid.uuid4().hex
    lab.host_run(h, ["sendmail", "-f", "root", "ops@contoso.com"],
                 input="From: root\nTo: ops@contoso.com\nSubject: %s\n\nfrom host1\n" % subject)
    m = wait_for_message(standins, subject)
    assert m["listener"].startswith("connector") and m["auth_mechanism"] == "certificate"
    again = configure.run(h, role_vars)
    assert again.rc == 0 and again.stats(h)["changed"] == 0, again.changed_tasks() or failures(again)
