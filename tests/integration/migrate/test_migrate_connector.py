# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailops.smtp.migrate with the connector chosen (issue 21, section 2.2: "connector mode for Postfix where the
operator chose the connector"), end to end on one host.

host1 runs Postfix and msmtp on basic auth. With `smtp_migrate_connector` set (the connector's tenant and the
lab's client certificate), the plan sends Postfix to the connector, not through a relay, and msmtp to XOAUTH2.
Postfix's proof is its own sendmail command, decided by its log: the connector stand-in took the message on
certificate trust alone (host1 is not one of its allowed source addresses). The SASL password map is gone
afterwards, and a rerun plans nothing and sends nothing.
"""

from __future__ import annotations

import pytest

from .conftest import fresh_migration
from .test_send_proof import by_message_id


@pytest.fixture(scope="module")
def connector(lab, standins, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("migrate-connector")
    with fresh_migration(lab, standins, scratch, "connector") as mig:
        host = mig.hosts[0]
        mig.hosts = [host]
        mig.apps = {host: [{"preset": "postfix"}, {"preset": "msmtp"}]}
        pki = lab.state["pki"]["client"]
        mig.role_vars = {"smtp_migrate_connector": {"tenant": lab.state["tenant_domain"],
                                                    "client_cert": pki["cert"], "client_key": pki["key"]}}
        yield dict(mig.configure_move_rerun(), host=host)


def test_postfix_moves_to_the_connector_and_its_own_proof_arrives_there(connector, lab, standins):
    first, report, host = connector["first"], connector["report"], connector["host"]
    assert first.rc == 0, first.output[-5000:]
    assert report["state"] == "done", report
    (moved,) = report["hosts"]
    assert moved["host"] == host and moved["status"] == "moved", moved
    assert moved["relay"] is None, moved["relay"]
    apps = {a["name"]: a for a in moved["apps"]}
    postfix, msmtp = apps["postfix (default path)"], apps["msmtp (default path)"]
    assert (postfix["before"], postfix["planned"], postfix["after"]) == ("basic", "connector", "connector"), postfix
    assert (msmtp["before"], msmtp["planned"], msmtp["after"]) == ("basic", "xoauth2", "xoauth2"), msmtp
    # Postfix's own sendmail, accepted per its log; the message is at the connector, by certificate.
    assert postfix["proof_kind"] == "app_command" and postfix["proof_accepted"] is True, postfix
    got = by_message_id(standins, postfix["proof_message_id"])
    assert len(got) == 1, got
    assert got[0]["listener"].startswith("connector") and got[0]["auth_mechanism"] == "certificate", got[0]
    assert got[0]["peer"][0] == lab.host(host)["ip"], got[0]
    # No password left on the host: the SASL map and its option are gone, and the report names no file.
    conf = lab.host_run(host, ["postconf", "-h", "relayhost", "smtp_sasl_auth_enable"]).stdout.split()
    assert conf == [f"[{standins.connector_addr[0]}]:25", "no"], conf
    left = lab.host_run(host, ["sh", "-c", "ls /etc/postfix/sasl_passwd* 2>/dev/null || true"]).stdout.split()
    assert left == [], left
    assert report["password_files"] == [], report["password_files"]


def test_a_rerun_with_the_connector_changes_nothing_and_sends_nothing(connector, standins):
    rerun, mig = connector["rerun"], connector["mig"]
    assert rerun.rc == 0, rerun.output[-5000:]
    (host,) = connector["rerun_report"]["hosts"]
    assert host["status"] == "unchanged" and host["changes"] is False, host
    assert mig.checksums() == connector["before_rerun"]
    assert len(standins.control.messages()) == connector["sent_before_rerun"]
