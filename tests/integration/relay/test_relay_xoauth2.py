# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp_relay role on the real Postfix of host1, upstream xoauth2, against the stand-ins.

One relay set-up (conftest.relay, module scope) serves every test here; the tests run in file order.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import uuid

from tests.integration.relay.conftest import (CLIENT, DOMAIN, OUTSIDER, RELAY, messages_by_rcpt, messages_to,
                                              queued_recipients, relay_log, submit, wait_for_rcpts, wait_log)

PS_SAMPLER = "while :; do ps -eo args= ; sleep 0.05; done"


def rcpt(tag: str) -> str:
    return f"relay-{tag}-{uuid.uuid4().hex[:8]}@{DOMAIN}"


def test_check_mode_changes_nothing_then_the_run_sets_up_the_relay(lab, relay):
    check, run = relay["check"], relay["run"]
    assert check.rc == 0, check.output[-3000:]
    assert check.stats(RELAY)["changed"] >= 1
    assert relay["after_check"] == relay["before"]  # --check wrote neither main.cf nor master.cf...
    assert "+default_transport = mailops_xoauth2:m365" in check.stdout  # ...and showed what it would write
    assert run.rc == 0, run.output[-3000:]
    conf = lab.host_run(RELAY, ["postconf", "-h", "inet_interfaces", "mynetworks", "default_transport",
                                "mailops_xoauth2_destination_concurrency_limit",
                                "mailops_xoauth2_destination_rate_delay"]).stdout.splitlines()
    assert conf == [f"127.0.0.1, {lab.host(RELAY)['ip']}", f"127.0.0.0/8 [::1]/128 {lab.host(CLIENT)['ip']}/32",
                    "mailops_xoauth2:m365", "2", "2s"]
    # Without systemd, the role restarted Postfix itself: it listens on the new address.
    listening = lab.host_run(RELAY, ["ss", "-ltn"]).stdout
    assert f"{lab.host(RELAY)['ip']}:25 " in listening


def delivery_starts(log: str, tos: list[str]) -> list[float]:
    """When Postfix started each delivery, sorted: its log stamp (whole seconds, written at the end)
    less the delivery's connection (c) and transmission (d) delays."""
    starts = []
    for to in tos:
        line = next(ln for ln in log.splitlines() if f"to=<{to}>" in ln and "status=sent" in ln)
        stamp = datetime.datetime.strptime(" ".join(line.split()[:3]), "%b %d %H:%M:%S").timestamp()
        conn, xfer = re.search(r"delays=[\d.]+/[\d.]+/([\d.]+)/([\d.]+)", line).groups()
        starts.append(stamp - float(conn) - float(xfer))
    return sorted(starts)


def test_xoauth2_delivers_within_the_mailbox_limits_and_leaks_no_token(lab, standins, relay):
    before = standins.control.mailbox_counters(standins.mailbox)
    sampler = subprocess.Popen(["nsenter", "-t", str(lab.host(RELAY)["pid"]), "-m", "-u", "-n", "--",
                                "sh", "-c", PS_SAMPLER], stdout=subprocess.PIPE, text=True)
    try:
        tos = [rcpt(f"burst{i}") for i in range(6)]
        for to in tos:
            out = submit(lab, CLIENT, to, f"burst {to}", standins.mailbox)
            assert out.get("data", [0])[0] == 250, out
        delivered = wait_for_rcpts(standins, tos)
    finally:
        sampler.terminate()
        ps = sampler.communicate(timeout=10)[0]
    msgs = [m for to in tos for m in delivered[to]]
    assert [m["rcpt_tos"] for m in msgs] == [[to] for to in tos]  # each once, with its own subject
    assert [dict(m["headers"])["Subject"] for m in msgs] == [f"burst {to}" for to in tos]
    for m in msgs:
        assert m["auth_mechanism"] == "XOAUTH2" and m["auth_identity"] == standins.mailbox, m
        assert m["peer"][0] == lab.host(RELAY)["ip"]
    # The budget: 2 connections sending at once, one message every 2 s (30 a minute).
    after = standins.control.mailbox_counters(standins.mailbox)
    assert after["peak_sending"] <= 2
    # A mailbox the stand-in has not yet seen has no counters at all (mailbox_counters gives {}).
    assert after["send_rejected_concurrency"] == before.get("send_rejected_concurrency", 0)
    assert after["messages_delayed"] == before.get("messages_delayed", 0)
    # Postfix waits the rate delay (2 s) after each delivery ends before it starts the next (its queue
    # manager's qmgr_entry_done), so the *starts* are spaced by at least the delay. The stand-in records their
    # ends, which move with each session's length (seconds, on a loaded machine), so the starts come
    # from Postfix's own log. Its timer counts whole seconds, so each start is more than 1 s after the
    # one before and the whole run spans more than 9 s; the log's whole-second stamps take up to 1 s
    # more off. Without the delay, all six would start within a fraction of a second.
    starts = delivery_starts(relay_log(lab), tos)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) > 0 and starts[-1] - starts[0] >= 2 * len(gaps) - 2.0, (starts, gaps)
    assert all(len(ms) == 1 for ms in messages_by_rcpt(standins, tos).values())
    # The token is in no log, no queue file, no command line, nothing Ansible printed.
    tokens = [t["token"] for t in standins.control.issued_tokens(standins.app.client_id)]
    assert tokens
    assert "relay-send" in ps  # the sampler saw the helper run
    spool = lab.host_run(RELAY, ["sh", "-c", "cat /var/log/postfix.log; find /var/spool/postfix -type f "
                                             "-exec cat {} + 2>/dev/null; cat /etc/postfix/main.cf "
                                             "/etc/postfix/master.cf"]).stdout
    output = relay["check"].output + relay["run"].output
    for t in tokens:
        assert t not in ps and t not in spool and t not in output
    assert standins.app.secret not in output


def test_never_an_open_relay(lab, standins, relay):
    outside = submit(lab, OUTSIDER, rcpt("outsider"), "from outside", standins.mailbox)
    assert outside["rcpt"][0] == 554 and "Relay access denied" in outside["rcpt"][1], outside
    # An allowed client cannot reach a domain that is not configured...
    other = submit(lab, CLIENT, "someone@example.net", "other domain", standins.mailbox)
    assert other["rcpt"][0] == 554 and "Access denied" in other["rcpt"][1], other
    # ...and an outsider cannot reach the relay's own local domain either.
    local = submit(lab, OUTSIDER, "root@localhost", "local from outside", standins.mailbox)
    assert local["rcpt"][0] == 554, local
    assert not messages_to(standins, "someone@example.net")


def assert_kept(lab, standins, to: str) -> None:
    """Deferred: still in the relay's queue, not delivered, not bounced."""
    assert to in queued_recipients(lab)
    assert not messages_to(standins, to)
    assert f"to=<{to}>" not in "".join(line for line in relay_log(lab).splitlines(True) if "status=bounced" in line)


def test_deferrals_keep_the_message_and_permanent_refusals_bounce(lab, standins, relay):
    ctl = standins.control
    box = standins.mailbox
    token_meta = "/var/lib/mailops-smtp/relay.token.json"
    refresh = ["sh", "-c", "sed -n 's/^[^#].* root //p' /etc/cron.d/mailops-smtp-relay-token | sh"]
    deferred = {}
    try:
        # A 4xx reply.
        ctl.set_fault("throttle", stage="mail")
        deferred["4xx"] = rcpt("throttled")
        submit(lab, CLIENT, deferred["4xx"], "4xx", box)
        wait_log(lab, rf"to=<{deferred['4xx']}>.*status=deferred .*451 4\.7\.500")
        assert_kept(lab, standins, deferred['4xx'])
        ctl.clear_faults()
        # An AUTH refusal: Microsoft no longer takes the token the relay holds.
        ctl.expire_tokens()
        deferred["auth"] = rcpt("auth")
        submit(lab, CLIENT, deferred["auth"], "auth", box)
        wait_log(lab, rf"to=<{deferred['auth']}>.*status=deferred .*535 5\.7\.3")
        assert_kept(lab, standins, deferred['auth'])
        # A token failure: the token has expired and Entra is down, so the refresher cannot renew it.
        ctl.set_entra_fault("down")
        lab.host_run(RELAY, ["sh", "-c", f"echo '{{\"expires_at\": 1}}' > {token_meta}"])
        lab.host_run(RELAY, refresh, check=False)
        deferred["token"] = rcpt("token")
        submit(lab, CLIENT, deferred["token"], "token", box)
        wait_log(lab, rf"to=<{deferred['token']}>.*status=deferred .*XOAUTH2 token .* has expired")
        assert_kept(lab, standins, deferred['token'])
        ctl.clear_faults(target="entra")
        lab.host_run(RELAY, refresh)  # what cron does next
        # The daily recipient limit: 554 5.2.0, over within a day.
        # One recipient a day, and a message to two: refused whatever was sent before.
        ctl.set_mailbox(box, recipients_per_day=1)
        deferred["quota"], deferred["quota2"] = rcpt("quota"), rcpt("quota2")
        submit(lab, CLIENT, f"{deferred['quota']},{deferred['quota2']}", "quota", box)
        wait_log(lab, rf"to=<{deferred['quota']}>.*status=deferred .*554 5\.2\.0 .*SubmissionQuotaExceeded")
        assert_kept(lab, standins, deferred['quota'])
    finally:
        ctl.clear_faults()
        ctl.set_mailbox(box, recipients_per_day=10000)
        ctl.set_clock(60)  # ends the day's block
    # Any other 5xx bounces, with the server's text: a From the mailbox may not send as.
    bounced = rcpt("sendas")
    submit(lab, CLIENT, bounced, "sendas", box, header_from=f"someone-else@{DOMAIN}")
    wait_log(lab, rf"to=<{bounced}>.*status=bounced .*554 5\.2\.252 SendAsDenied")
    assert bounced not in queued_recipients(lab)
    # Once the causes are gone, every deferred message is delivered (Postfix retries; the lab's
    # backoff is seconds, a flush makes it now), exactly once.
    lab.host_run(RELAY, ["postqueue", "-f"])
    wait_for_rcpts(standins, list(deferred.values()))
    delivered = messages_by_rcpt(standins, [*deferred.values(), bounced])
    for to in deferred.values():
        assert len(delivered[to]) == 1, (to, relay_log(lab)[-3000:])
    assert not delivered[bounced]


def test_a_second_run_changes_nothing(lab, relay):
    again = relay["runner"].run(RELAY, relay["vars"])
    assert again.rc == 0, again.output[-3000:]
    assert again.stats(RELAY)["changed"] == 0, again.changed_tasks()


def test_moving_off_xoauth2_removes_the_refreshers_secret_files(lab, standins, relay):
    """The upstream given as mailops_smtp_relay_upstream (the readiness check's variable) moves the relay to
    the connector; the client secret, the token and the cron entry of the xoauth2 upstream go with it."""
    leftovers = ["/etc/mailops-smtp/relay.oauth.json", "/etc/mailops-smtp/relay.oauth.json.mailops-smtp.json",
                 "/var/lib/mailops-smtp/relay.token", "/var/lib/mailops-smtp/relay.token.json",
                 "/etc/cron.d/mailops-smtp-relay-token"]
    present = "for f in %s; do test -e $f && echo $f; done; true" % " ".join(leftovers)
    assert lab.host_run(RELAY, ["sh", "-c", present]).stdout.split() == leftovers
    secret = lab.host_run(RELAY, ["python3", "-c", "import json; print(json.load(open("
                                  "'/etc/mailops-smtp/relay.oauth.json'))['client_secret'])"]).stdout.strip()
    assert secret
    client = lab.state["pki"]["client"]
    connector = {k: v for k, v in relay["vars"].items() if k != "smtp_relay_vault"}
    connector.update({"mailops_smtp_relay_upstream": "connector", "smtp_relay_tenant": lab.state["tenant_domain"],
                      "smtp_relay_client_cert": client["cert"], "smtp_relay_client_key": client["key"]})
    run = relay["runner"].run(RELAY, connector, "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert lab.host_run(RELAY, ["sh", "-c", present]).stdout.split() == []
    assert "relay.oauth.json" in run.output and secret not in run.output
    assert lab.host_run(RELAY, ["postconf", "-h", "default_transport"]).stdout.strip() == "smtp"
