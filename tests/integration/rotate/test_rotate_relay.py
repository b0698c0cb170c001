# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A rotation reaches the relays (issue 20): the oauth2 client secret of an xoauth2 relay, the password of a basic one.

Each relay is one lab host, set up by the relay playbook from a Vault path of this run (v1), then rotated to v2
with `mailops.smtp.rotate`, as an operator runs it: the host has no application, only its relay
(smtp_relay_upstream in its variables). One rotation per upstream serves every test of that upstream. Secrets
are read on the host as root and compared there or in memory, never printed.
"""

from __future__ import annotations

import hmac
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest

from .conftest import MOUNT, Rotation

RELAY_FILES = ["/etc/postfix/main.cf", "/etc/postfix/master.cf"]
RELAY_PATHS = ("/etc/mailops-smtp /var/lib/mailops-smtp /usr/local/lib/mailops-smtp "
               "/etc/cron.d/mailops-smtp-relay-token /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db")
OAUTH_FILE = "/etc/mailops-smtp/relay.oauth.json"
TOKEN_FILE = "/var/lib/mailops-smtp/relay.token"
CRON = "/etc/cron.d/mailops-smtp-relay-token"


@dataclass
class RelayRotation:
    """One relay's rotation; the secrets are left out of its repr, which pytest prints when a test fails."""
    rot: Rotation
    host: str
    setup: object
    run: object
    started: float
    checks: list
    extra: dict
    old: str = field(repr=False)
    new: str = field(repr=False)


def same(a: str, b: str) -> bool:
    """Equal, compared without showing either: a failed `a == b` would print both secrets. Call it outside an
    assert statement, whose explanation would show the arguments."""
    return hmac.compare_digest(a.encode(), b.encode())


def _put_back(lab, host: str, saved: dict) -> None:
    for path, text in saved.items():
        lab.host_run(host, ["sh", "-c", f"cat > {path}"], input=text)
    lab.host_run(host, ["sh", "-c", f"rm -rf {RELAY_PATHS}; postsuper -d ALL >/dev/null 2>&1; "
                                    "postfix stop >/dev/null 2>&1; postfix start >/dev/null 2>&1; true"])


def relay_rotation(lab, standins, scratch, host: str, upstream: str, v1_data: dict, new: str, grant_both):
    """Set up the relay on host at v1, let the provider accept both secrets, rotate to `new`; yields a dict."""
    old = v1_data["client_secret" if upstream == "xoauth2" else "password"]
    rot = Rotation(lab, standins, scratch, [host], f"smtp/rotate-relay-{upstream}-{uuid.uuid4().hex[:10]}", old)
    rot.secrets.append(new)
    saved = {p: lab.host_run(host, ["cat", p]).stdout for p in RELAY_FILES}
    _put_back(lab, host, saved)
    client = rot.vault()
    client.secrets.kv.v2.create_or_update_secret(path=rot.path, mount_point=MOUNT, secret=v1_data)
    vault = dict(rot.base_vars()["mailops_smtp_vault"], oauth_ca_path=lab.ca,
                 oauth_authority="https://login.microsoftonline.com")
    # The host runs no application, only the relay; its upstream is in its variables, as the relay playbook reads it.
    # The lab hosts have the packages already: no package manager check in each of the two runs.
    extra = {"mailops_smtp_vault": vault, "rotate_test_apps": {}, "smtp_relay_upstream": upstream,
             "smtp_relay_install_packages": False}
    try:
        setup = rot.run(playbook="mailops.smtp.relay", smtp_relay_hosts=host, **extra)
        assert setup.rc == 0, setup.output[-4000:]
        grant_both(old, new)
        seen = {m["queue_id"] for m in standins.control.messages()}
        started = time.time()
        run = rot.run(smtp_rotate_new_credential_file=rot.new_credential_file(new), **extra)
        checks = [m for m in standins.control.messages() if m["queue_id"] not in seen]
        yield RelayRotation(rot, host, setup, run, started, checks, extra, old, new)
    finally:
        _put_back(lab, host, saved)
        standins.control.reset()
        standins.control.set_mailbox(standins.mailbox, passwords=[standins.password])
        for path in (rot.path, rot.path + ".lock"):
            try:
                client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=MOUNT)
            except Exception:  # noqa: BLE001 - best effort; the paths are unique to this run
                pass


@pytest.fixture(scope="module")
def xoauth2_relay(lab, standins, tmp_path_factory):
    assert len(lab.hosts) >= 6, "this test needs a lab of at least 6 hosts"
    app, ctl = standins.app, standins.control
    v1 = {"username": standins.mailbox, "tenant_id": app.tenant_id, "client_id": app.client_id,
          "client_secret": app.secret}

    def grant_both(old, new):
        # An Entra admin adds the second secret before the old one goes: both are valid until then.
        ctl.set_app(app.client_id, tenant=app.tenant_id, secrets=[old, new], mailboxes=[standins.mailbox])

    yield from relay_rotation(lab, standins, tmp_path_factory.mktemp("rotate-relay-x"), lab.hosts[5]["name"],
                              "xoauth2", v1, "Rotated~" + secrets.token_urlsafe(18), grant_both)


@pytest.fixture(scope="module")
def basic_relay(lab, standins, tmp_path_factory):
    assert len(lab.hosts) >= 7, "this test needs a lab of at least 7 hosts"
    v1 = {"username": standins.mailbox, "password": standins.password}

    def grant_both(old, new):
        standins.control.set_mailbox(standins.mailbox, passwords=[old, new])

    yield from relay_rotation(lab, standins, tmp_path_factory.mktemp("rotate-relay-b"), lab.hosts[6]["name"],
                              "basic", v1, "Rotated'$pw~" + secrets.token_urlsafe(12), grant_both)


def assert_the_report_lists_the_relay_rotated(r: RelayRotation, upstream: str) -> None:
    run, rot = r.run, r.rot
    assert run.rc == 0, run.output[-4000:]
    assert rot.vault_version() == 2
    report = rot.report()
    assert report["state"] == "done" and report["drift"] == [], report
    (entry,) = report["hosts"]
    assert entry["host"] == r.host and entry["result"] == "rotated", entry
    (relay,) = entry["apps"]
    assert {k: relay[k] for k in ("name", "before", "after", "credential_after", "check", "check_ok")} == {
        "name": f"relay ({upstream})", "before": "1", "after": "2", "credential_after": f"{MOUNT}/{rot.path}",
        "check": "sendmail", "check_ok": True}, relay
    assert f"relay ({upstream})" in (rot.scratch / "report" / "rotation.md").read_text()


def send_through_the_relay(r: RelayRotation, lab, standins) -> dict:
    subject = f"rotate relay after-revoke {r.host} {uuid.uuid4().hex[:8]}"
    lab.host_run(r.host, ["sendmail", "-i", "ops@contoso.com"],
                 input=f"To: ops@contoso.com\nSubject: {subject}\n\nthrough the relay\n")
    return r.rot.delivered({subject: r.host})[subject]


# -- xoauth2: the client secret in relay.oauth.json ---------------------------------------------------------

def test_the_rotation_reaches_the_xoauth2_relay_and_the_report_lists_it(xoauth2_relay):
    assert_the_report_lists_the_relay_rotated(xoauth2_relay, "xoauth2")
    # The rollout's check went through the relay, which logged in with XOAUTH2.
    ip = xoauth2_relay.rot.lab.host(xoauth2_relay.host)["ip"]
    assert [m for m in xoauth2_relay.checks
            if m["auth_mechanism"] == "XOAUTH2" and (m.get("peer") or [None])[0] == ip], xoauth2_relay.checks


def test_the_relay_file_holds_the_new_secret_under_the_new_marker(lab, xoauth2_relay):
    host, rot = xoauth2_relay.host, xoauth2_relay.rot
    held = json.loads(lab.host_run(host, ["cat", OAUTH_FILE]).stdout)
    holds_new = same(held["client_secret"], xoauth2_relay.new)
    assert holds_new, "relay.oauth.json does not hold the new client secret"
    assert lab.host_run(host, ["stat", "-c", "%a", OAUTH_FILE]).stdout.strip() == "600"
    marker = json.loads(lab.host_run(host, ["cat", OAUTH_FILE + ".mailops-smtp.json"]).stdout)
    assert {k: marker[k] for k in ("credential", "version")} == {"credential": f"{MOUNT}/{rot.path}", "version": "2"}


def test_the_relay_holds_a_token_fetched_during_the_rotation(lab, standins, xoauth2_relay):
    held = lab.host_run(xoauth2_relay.host, ["cat", TOKEN_FILE]).stdout.strip()
    fresh = [t["token"] for t in standins.control.issued_tokens(standins.app.client_id)
             if t["issued_at"] >= xoauth2_relay.started]
    issued_now = any(same(held, t) for t in fresh)
    assert issued_now, "the relay's token was not issued during the rotation"


def _token_request(lab, app, secret: str) -> tuple[int, dict]:
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": app.client_id,
                                   "client_secret": secret, "scope": "https://outlook.office365.com/.default"})
    url = f"https://login.microsoftonline.com/{app.tenant_id}/oauth2/v2.0/token"
    ctx = ssl.create_default_context(cafile=lab.ca)
    try:
        with urllib.request.urlopen(url, data=body.encode(), context=ctx, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_with_the_old_secret_revoked_the_relay_renews_its_token_and_delivers(lab, standins, xoauth2_relay):
    app, host = standins.app, xoauth2_relay.host
    standins.control.set_app(app.client_id, tenant=app.tenant_id, secrets=[xoauth2_relay.new],
                             mailboxes=[standins.mailbox])
    status, answer = _token_request(lab, app, xoauth2_relay.old)
    assert status == 401 and answer.get("error_codes") == [7000215], (status, answer.get("error"))
    # What cron runs next, forced: it can only get a token with the secret the relay holds.
    job = lab.host_run(host, ["sh", "-c", f"grep -v '^#' {CRON} | grep refresh-token"]).stdout.strip()
    command = job.split(None, 6)[6]      # m h dom mon dow user command
    renewed = lab.host_run(host, ["sh", "-c", command.replace(" --quiet", "") + " --force"], check=False)
    assert renewed.returncode == 0, (renewed.stdout, renewed.stderr)
    m = send_through_the_relay(xoauth2_relay, lab, standins)
    assert m["auth_mechanism"] == "XOAUTH2" and m["auth_identity"] == standins.mailbox, m
    assert m["peer"][0] == lab.host(host)["ip"]


def test_report_mode_lists_a_relay_behind_vault_as_drift(standins, xoauth2_relay):
    rot = xoauth2_relay.rot
    # Someone stores v3 (the same secret again) without rolling it out: the relay, on v2, is behind.
    rot.vault().secrets.kv.v2.create_or_update_secret(path=rot.path, mount_point=MOUNT, secret={
        "username": standins.mailbox, "tenant_id": standins.app.tenant_id, "client_id": standins.app.client_id,
        "client_secret": xoauth2_relay.new})
    report_run = rot.run(smtp_rotate_mode="report", **xoauth2_relay.extra)
    assert report_run.rc == 0, report_run.output[-4000:]
    assert rot.report()["drift"] == [{"host": xoauth2_relay.host, "app": "relay (xoauth2)",
                                      "credential": f"{MOUNT}/{rot.path}", "version": "2"}]


def test_no_secret_in_the_xoauth2_runs_or_report(xoauth2_relay):
    rot = xoauth2_relay.rot
    for run in (xoauth2_relay.setup, xoauth2_relay.run):
        rot.assert_no_leak(run.output)
    text = json.dumps(rot.report())
    assert xoauth2_relay.old not in text and xoauth2_relay.new not in text


# -- basic: the password in Postfix's SASL map ----------------------------------------------------------------

def test_the_rotation_reaches_the_basic_relay_and_its_sasl_map(lab, standins, basic_relay):
    assert_the_report_lists_the_relay_rotated(basic_relay, "basic")
    host, rot = basic_relay.host, basic_relay.rot
    maps = lab.host_run(host, ["postconf", "-h", "smtp_sasl_password_maps", "relayhost"]).stdout.split()
    entry = lab.host_run(host, ["postmap", "-q", maps[1], maps[0]]).stdout.strip()
    holds_new = same(entry, f"{standins.mailbox}:{basic_relay.new}")
    assert holds_new, "the SASL map does not hold the new password"
    source = lab.host_run(host, ["cat", "/etc/postfix/sasl_passwd"]).stdout
    assert f"credential {MOUNT}/{rot.path} version 2" in source
    # With the old password revoked, a message through the relay still goes out, with the new one.
    standins.control.set_mailbox(standins.mailbox, passwords=[basic_relay.new])
    m = send_through_the_relay(basic_relay, lab, standins)
    assert m["auth_mechanism"] == "LOGIN" and m["auth_identity"] == standins.mailbox, m
    rot.assert_no_leak(basic_relay.setup.output + basic_relay.run.output)
