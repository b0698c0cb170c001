# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A whole oauth2 rotation: a new client secret from the canary to msmtp sending with XOAUTH2.

Two hosts with msmtp only (the preset that can use OAuth 2.0), on a Vault path of this run that
holds an oauth2 credential. v1 (the app's first secret) is rolled out first; then the app gets a
second secret, as an Entra admin adds one before the old expires, and the rotation rolls it out.
Once the first secret is removed from the app, a forced token renewal on each host must still
work, and msmtp must still send: the hosts hold the new secret, not only a token left from the old.
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from .conftest import MOUNT, Rotation

ACCOUNT = "mailops"
CRON = f"/etc/cron.d/mailops-smtp-token-{ACCOUNT}"


def _cleanup(lab, hosts) -> None:
    for h in hosts:
        lab.host_run(h, ["sh", "-c", "rm -rf /etc/msmtprc /etc/mailops-smtp /var/lib/mailops-smtp "
                                     f"{CRON} /etc/.mailops-smtp-tmp-*; true"])


@pytest.fixture(scope="module")
def oauth_rotation(lab, standins, tmp_path_factory):
    assert len(lab.hosts) >= 7, "this test needs a lab of at least 7 hosts"
    hosts = [h["name"] for h in lab.hosts[5:7]]
    app = standins.app
    old, new = app.secret, "Rotated~" + secrets.token_urlsafe(18)
    rot = Rotation(lab, standins, tmp_path_factory.mktemp("rotate-oauth"), hosts,
                   f"smtp/rotate-app-{uuid.uuid4().hex[:10]}", old)
    rot.secrets.append(new)
    _cleanup(lab, hosts)
    client = rot.vault()
    client.secrets.kv.v2.create_or_update_secret(path=rot.path, mount_point=MOUNT, secret={
        "username": standins.mailbox, "tenant_id": app.tenant_id, "client_id": app.client_id,
        "client_secret": old})
    vault = dict(rot.base_vars()["mailops_smtp_vault"], oauth_ca_path=lab.ca,
                 oauth_authority="https://login.microsoftonline.com")
    extra = {"mailops_smtp_vault": vault,
             "rotate_test_apps": {h: [{"preset": "msmtp", "options": {"account": ACCOUNT}}] for h in hosts}}
    ctl = standins.control
    try:
        first = rot.run(smtp_rotate_version="latest", **extra)
        assert first.rc == 0, first.output[-4000:]
        # The app gets a second secret; both are valid until the old one is removed.
        ctl.set_app(app.client_id, tenant=app.tenant_id, secrets=[old, new], mailboxes=[standins.mailbox])
        seen = {m["queue_id"] for m in ctl.messages()}
        second = rot.run(smtp_rotate_new_credential_file=rot.new_credential_file(new), **extra)
        checks = [m for m in ctl.messages() if m["queue_id"] not in seen]
        yield {"rot": rot, "hosts": hosts, "first": first, "second": second, "checks": checks,
               "old": old, "new": new, "app": app, "client": client}
    finally:
        _cleanup(lab, hosts)
        ctl.reset()
        try:
            client.secrets.kv.v2.delete_metadata_and_all_versions(path=rot.path, mount_point=MOUNT)
        except Exception:  # noqa: BLE001 - best effort; the path is unique to this run
            pass


def test_the_new_client_secret_is_stored_and_rolled_out(oauth_rotation):
    rot, second = oauth_rotation["rot"], oauth_rotation["second"]
    assert second.rc == 0, second.output[-4000:]
    assert rot.vault_version() == 2
    stored = oauth_rotation["client"].secrets.kv.v2.read_secret_version(
        path=rot.path, mount_point=MOUNT, raise_on_deleted_version=True)["data"]["data"]
    assert stored["client_secret"] == oauth_rotation["new"]
    report = rot.report()
    assert report["stored"] is True and report["type"] == "oauth2" and not report["stopped"], report
    assert {h["host"]: h["result"] for h in report["hosts"]} == {h: "rotated" for h in oauth_rotation["hosts"]}


def test_every_check_message_went_out_with_xoauth2(oauth_rotation):
    ips = {oauth_rotation["rot"].lab.host(h)["ip"]: h for h in oauth_rotation["hosts"]}
    by_host = {ips.get((m.get("peer") or [None])[0]) for m in oauth_rotation["checks"]
               if m["auth_mechanism"] == "XOAUTH2"}
    assert by_host >= set(oauth_rotation["hosts"]), oauth_rotation["checks"]
    assert not [m for m in oauth_rotation["checks"] if m["auth_mechanism"] not in ("XOAUTH2", None)]


def test_with_the_old_secret_removed_the_hosts_still_get_tokens_and_send(oauth_rotation, standins):
    rot, app, ctl = oauth_rotation["rot"], oauth_rotation["app"], standins.control
    ctl.set_app(app.client_id, tenant=app.tenant_id, secrets=[oauth_rotation["new"]], mailboxes=[standins.mailbox])
    sent = {}
    for h in oauth_rotation["hosts"]:
        job = rot.lab.host_run(h, ["sh", "-c", f"grep -v '^#' {CRON} | grep refresh-token"]).stdout.strip()
        command = job.split(None, 6)[6]      # m h dom mon dow user command
        renewed = rot.lab.host_run(h, ["sh", "-c", command.replace(" --quiet", "") + " --force"], check=False)
        assert renewed.returncode == 0, (h, renewed.stdout, renewed.stderr)
        subject = f"rotate oauth after-revoke {h} {uuid.uuid4().hex[:8]}"
        rot.lab.host_run(h, ["msmtp", "-a", ACCOUNT, "ops@contoso.com"],
                         input=f"To: ops@contoso.com\nSubject: {subject}\n\nx\n", timeout=45)
        sent[subject] = h
    found = rot.delivered(sent)
    assert {m["auth_mechanism"] for m in found.values()} == {"XOAUTH2"}


def test_no_secret_in_output_or_report(oauth_rotation):
    rot = oauth_rotation["rot"]
    for run in (oauth_rotation["first"], oauth_rotation["second"]):
        rot.assert_no_leak(run.output)
    text = json.dumps(rot.report())
    assert oauth_rotation["old"] not in text and oauth_rotation["new"] not in text
