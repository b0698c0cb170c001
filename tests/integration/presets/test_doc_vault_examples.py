# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The two doc blocks that fetch the credential from Vault, run through smtp_configure on the lab.

- configure.md `shared-vars`: the mailops_smtp_* shared variables, with an AppRole login, feeding
  the `preset-msmtp` app (basic auth with the stand-in mailbox's password).
- basic-auth-retirement.md `oauth-vault`: an oauth2 credential fetched with a token file, feeding
  that doc's `msmtp` app, which then sends with XOAUTH2 through the token refresher.

The blocks are taken as written; only what must differ per run is substituted, as
tests/integration/vault/test_vault_docs.py does: the Vault URL (plus its CA and the per-run KV
mount; for oauth-vault also oauth_ca_path, since the controller fetches the access token from
the lab's Entra stand-in), the AppRole mount, the secret path and the token file. The Vault side
(per-run mounts, AppRole, read token, the stand-in's real credentials under smtp/lab-*) comes
from the vault tests' setup helpers and is removed again afterwards.
"""

from __future__ import annotations

import re
import uuid

import pytest
import yaml

from tests.integration.configure.conftest import wait_for_message
from tests.integration.vault import conftest as vault_setup

from .conftest import CONFIGURE_DOC, RETIREMENT_DOC, doc_blocks, doc_example, failures, host_read, host_sh

HOST = "host2"
DOC_URL = re.compile(r"^(\s*)url: https://vault\.example\.com:8200$", re.M)
# What the role leaves on an msmtp host: its config, the refresher (cron on the lab) and the token.
HOST_FILES = ("/etc/msmtprc /etc/msmtprc.* /etc/.mailops-smtp-tmp-* /etc/mailops-smtp /var/lib/mailops-smtp "
              "/etc/cron.d/mailops-smtp-token-mailops")


@pytest.fixture(scope="module")
def doc_vault(lab, tmp_path_factory):
    """The lab's OpenBao with this run's mounts, AppRole and read token (all removed afterwards)."""
    state = vault_setup.lab_state()
    assert state is not None, "run inside the lab's controller namespace (ctl-exec)"
    # Reused, not copied: the vault tests' own setup of the lab's OpenBao.
    v = vault_setup._lab_vault(state, tmp_path_factory.mktemp("bao"))  # pylint: disable=protected-access
    try:
        vault_setup.setup_vault(v)
        yield v
    finally:
        vault_setup.teardown_vault(v)


@pytest.fixture
def msmtp_host(lab):
    def clean():
        host_sh(lab, HOST, "rm -rf %s" % HOST_FILES)
    clean()
    yield HOST
    clean()


def substitute(text: str, vault, paths: dict, oauth: bool = False) -> str:
    """The block with the lab's Vault in place of vault.example.com; nothing else changes."""
    assert DOC_URL.search(text), text
    extra = ["ca_path: %s" % vault.ca_path, "mount: %s" % vault.info["kv2"]]
    if oauth:
        # The controller fetches the access token from the lab's Entra stand-in, under the lab CA.
        extra.append("oauth_ca_path: %s" % vault.ca_path)
    text = DOC_URL.sub(lambda m: "\n".join(m.group(1) + line for line in ["url: " + vault.addr_https] + extra),
                       text)
    text = text.replace("method: approle,", "method: approle, mount: %s," % vault.info["approle_mount"])
    for old, new in paths.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def send(lab, standins, sender: str) -> dict:
    subject = "doc vault example %s" % uuid.uuid4().hex
    p = lab.host_run(HOST, ["msmtp", "-C", "/etc/msmtprc", "ops@contoso.com"], check=False,
                     input="From: %s\nTo: ops@contoso.com\nSubject: %s\n\nfrom %s\n" % (sender, subject, HOST))
    assert p.returncode == 0, p.stderr[-500:]
    return wait_for_message(standins, subject)


def run_ok(configure, role_vars: dict, secret: str):
    run = configure.run(HOST, role_vars)
    assert run.rc == 0, failures(run)
    assert secret not in run.output
    return run


def test_shared_vars_with_approle(lab, standins, configure, doc_vault, msmtp_host):
    block = substitute(doc_blocks(CONFIGURE_DOC)["shared-vars"], doc_vault, {"smtp/o365-mailer": "smtp/lab-mailer"})
    role_vars = yaml.safe_load(block)
    sender = role_vars["smtp_configure_from_address"]
    role_vars.update(smtp_configure_ca_path=lab.ca, smtp_configure_apps=doc_example(CONFIGURE_DOC, "preset-msmtp"),
                     vault_role_id=doc_vault.info["role_id"], vault_secret_id=doc_vault.new_secret_id())
    password = doc_vault.info["lab_secrets"]["smtp/lab-mailer"]["password"]
    # The block sends as alerts@: on Microsoft 365 the mailbox needs SendAs for it, so the stand-in too.
    standins.control.set_mailbox(standins.mailbox, send_as=[sender])
    try:
        run_ok(configure, role_vars, password)
        rc = host_read(lab, msmtp_host, "/etc/msmtprc")
        # Not printed on failure: the file holds the password.
        assert "credential %s/smtp/lab-mailer version 1" % doc_vault.info["kv2"] in rc.splitlines()[0]
        assert 'user "%s"' % standins.mailbox in rc and 'from "%s"' % sender in rc
        m = send(lab, standins, sender)
        assert (m["auth_mechanism"], m["auth_identity"]) == ("LOGIN", standins.mailbox), m

        again = run_ok(configure, role_vars, password)
        assert again.stats(HOST)["changed"] == 0, again.changed_tasks()
    finally:
        standins.control.set_mailbox(standins.mailbox, send_as=[])


def test_oauth_vault_with_token_file(lab, standins, configure, doc_vault, msmtp_host):
    block = substitute(doc_blocks(RETIREMENT_DOC)["oauth-vault"], doc_vault,
                       {"smtp/o365-app": "smtp/lab-app", "/etc/mailops/vault-token": doc_vault.info["read_token_file"]},
                       oauth=True)
    role_vars = yaml.safe_load(block)
    role_vars.update(smtp_configure_ca_path=lab.ca,
                     smtp_configure_apps=doc_example(RETIREMENT_DOC, "msmtp")["smtp_configure_apps"])
    cred = doc_vault.info["lab_secrets"]["smtp/lab-app"]
    assert cred["client_id"] == standins.app.client_id

    run_ok(configure, role_vars, cred["client_secret"])
    rc = host_read(lab, msmtp_host, "/etc/msmtprc")
    assert "%s/smtp/lab-app" % doc_vault.info["kv2"] in rc.splitlines()[0]
    assert "auth xoauth2" in rc and 'passwordeval "cat /var/lib/mailops-smtp/mailops.token"' in rc
    m = send(lab, standins, standins.mailbox)
    assert (m["auth_mechanism"], m["auth_identity"]) == ("XOAUTH2", standins.mailbox), m

    again = run_ok(configure, role_vars, cred["client_secret"])
    assert again.stats(HOST)["changed"] == 0, again.changed_tasks()
