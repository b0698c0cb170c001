# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smtp_relay role's decisions: the mailbox budget split, the keys it owns, never an open relay."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.plugin_utils._relay import (
    LISTENER_KEYS, LISTENER_TLS_KEYS, XOAUTH2_KEYS, XOAUTH2_TRANSPORT, RelayError, listener_settings,
    mailbox_budget, relay_postfix_settings, submission_endpoint)

ARGV = ["/usr/bin/python3", "/usr/local/lib/mailops-smtp/relay-send", "--"]
PLAINTEXT = {"allow_plaintext": True}
CERT = {"cert": "/etc/ssl/relay/relay.pem", "key": "/etc/ssl/private/relay.key"}


@pytest.mark.parametrize("connections, per_minute, relays, concurrency, delay", [
    (2, 30, 1, 2, "2s"),
    (3, 30, 1, 3, "2s"),
    (2, 30, 2, 1, "4s"),
    (3, 30, 3, 1, "6s"),
    (3, 30, 2, 1, "4s"),    # 3 // 2: rounding down keeps the sum at or under 3
    (2, 20, 1, 2, "3s"),
    (3, 25, 2, 1, "5s"),    # 60 * 2 / 25 = 4.8, rounded up: 2 relays * 12/min = 24 <= 25
])
def test_the_budget_is_split_so_the_sums_hold(connections, per_minute, relays, concurrency, delay):
    b = mailbox_budget(connections, per_minute, relays)
    assert b == {"concurrency": concurrency, "rate_delay": delay}
    assert b["concurrency"] * relays <= connections
    assert relays * 60 / int(b["rate_delay"][:-1]) <= per_minute


@pytest.mark.parametrize("per_minute, relays, minute, delay", [
    (30, 2, 15, "1s"),   # the burst test's lab: 2 relays at 1 s = 2 a second = 30 in the stand-in's 15 s minute
    (30, 1, 30, "1s"),
    (30, 1, 15, "1s"),   # 0.5 s, rounded up: Postfix's rate delay counts whole seconds, so 15 s buys no more
    (30, 2, 60, "4s"),   # Microsoft's minute: the default
])
def test_a_scaled_minute_paces_the_relays_in_real_seconds(per_minute, relays, minute, delay):
    b = mailbox_budget(2, per_minute, relays, minute)
    assert b["rate_delay"] == delay
    # The sum over the relays, in messages per scaled minute, stays within the mailbox's limit.
    assert relays * minute / int(delay[:-1]) <= per_minute
    assert mailbox_budget(2, per_minute, relays) == mailbox_budget(2, per_minute, relays, 60)


def test_the_role_filter_passes_the_scaled_minute_and_says_what_is_wrong():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.mailops.smtp.plugins.filter.relay_postfix_settings import FilterModule
    budget = FilterModule().filters()["relay_mailbox_budget"]
    assert budget(2, 30, 2, 15) == {"concurrency": 1, "rate_delay": "1s"}
    assert budget(2, 30, 2) == {"concurrency": 1, "rate_delay": "4s"}
    with pytest.raises(AnsibleFilterError, match="leave it at 60"):
        budget(2, 30, 2, 120)


@pytest.mark.parametrize("args, words", [
    ((2, 30, 1, 61), "a minute has 60 seconds"),
    ((2, 30, 1, 0), "smtp_relay_mailbox_minute_seconds must be a whole number of at least 1"),
    ((4, 30, 1), "432 4.3.2"),
    ((2, 31, 1), "30 or fewer"),
    ((2, 30, 3), "designated relay hosts"),
    ((0, 30, 1), "at least 1"),
    (("two", 30, 1), "whole number"),
])
def test_a_budget_beyond_microsofts_limits_is_refused(args, words):
    with pytest.raises(RelayError, match=words):
        mailbox_budget(*args)


def test_loopback_relay_listens_and_relays_for_loopback_only():
    s = listener_settings()
    assert set(s) == set(LISTENER_KEYS)
    assert s["inet_interfaces"] == "loopback-only"
    assert s["mynetworks"] == "127.0.0.0/8 [::1]/128"
    assert s["smtpd_relay_restrictions"] == "permit_mynetworks, reject_unauth_destination"
    # Never STARTTLS on the loopback, and no TLS key of the relay's left from a designated set-up.
    assert s["smtpd_tls_security_level"] == "none"
    assert all(s[k] is None for k in LISTENER_TLS_KEYS if k != "smtpd_tls_security_level")


def test_designated_relay_relays_for_the_given_networks_and_domains_only():
    s = listener_settings(["198.51.100.7"], ["198.51.100.0/24", "2001:db8::/64"], ["Contoso.com."], PLAINTEXT)
    assert s["inet_interfaces"] == "127.0.0.1, 198.51.100.7"
    assert s["mynetworks"] == "127.0.0.0/8 [::1]/128 198.51.100.0/24 [2001:db8::]/64"
    assert s["smtpd_recipient_restrictions"] == "check_recipient_access inline:{ contoso.com=OK }, reject"


@pytest.mark.parametrize("listen, networks, domains, words", [
    (["198.51.100.7"], ["0.0.0.0/0"], [], "open relay"),
    (["198.51.100.7"], ["198.51.100.0/24"], [], "no certificate"),
    (["198.51.100.7"], ["::/0"], [], "open relay"),
    (["198.51.100.7"], [], [], "no client"),
    (["relay.example"], ["198.51.100.0/24"], [], "not an IP address"),
    ("loopback", ["not-a-net"], [], "not an address or network"),
    ("loopback", [], ["bad domain"], "not a domain"),
])
def test_settings_that_would_open_or_break_the_relay_are_refused(listen, networks, domains, words):
    with pytest.raises(RelayError, match=words):
        listener_settings(listen, networks, domains)


def test_a_designated_relay_with_a_certificate_offers_starttls_to_network_clients_only():
    s = listener_settings(["198.51.100.7"], ["198.51.100.0/24"], tls=CERT)
    assert set(s) == set(LISTENER_KEYS)
    assert s["smtpd_tls_security_level"] == "may"
    # Postfix's order: the key, then its certificate chain.
    assert s["smtpd_tls_chain_files"] == "/etc/ssl/private/relay.key, /etc/ssl/relay/relay.pem"
    assert s["smtpd_tls_protocols"] == s["smtpd_tls_mandatory_protocols"] == ">=TLSv1.2"
    # The loopback listener of the same Postfix never shows STARTTLS (Symfony Mailer would take it).
    assert s["smtpd_discard_ehlo_keyword_address_maps"] == "inline:{ 127.0.0.1=starttls, ::1=starttls }"
    assert s["smtpd_relay_restrictions"] == "permit_mynetworks, reject_unauth_destination"


def test_a_key_in_the_certificate_file_is_one_chain_file():
    s = listener_settings(["198.51.100.7"], ["198.51.100.0/24"], tls={"cert": "/etc/ssl/relay/both.pem"})
    assert s["smtpd_tls_chain_files"] == "/etc/ssl/relay/both.pem"


def test_level_encrypt_refuses_plaintext_from_the_network_but_not_from_the_loopback():
    s = listener_settings(["198.51.100.7"], ["198.51.100.0/24"], tls=dict(CERT, level="encrypt"))
    # encrypt itself would also refuse loopback clients, who are never offered STARTTLS.
    assert s["smtpd_tls_security_level"] == "may"
    assert s["smtpd_relay_restrictions"] == (
        "check_client_access inline:{ 127.0.0.1=OK, ::1=OK }, reject_plaintext_session, "
        "permit_mynetworks, reject_unauth_destination")


def test_plaintext_on_the_network_only_when_the_operator_says_so():
    s = listener_settings(["198.51.100.7"], ["198.51.100.0/24"], tls=PLAINTEXT)
    assert s["smtpd_tls_security_level"] == "none"
    assert s["smtpd_tls_chain_files"] is None and s["smtpd_discard_ehlo_keyword_address_maps"] is None


@pytest.mark.parametrize("listen, tls, words", [
    ("loopback", CERT, "never offers STARTTLS"),
    (["198.51.100.7"], {"key": "/etc/ssl/private/relay.key"}, "without smtp_relay_tls_cert"),
    (["198.51.100.7"], dict(CERT, level="require"), "may or encrypt"),
    (["198.51.100.7"], {"cert": "relay.pem"}, "absolute path"),
    (["198.51.100.7"], {"cert": "/etc/ssl/my relay.pem"}, "absolute path"),
    (["198.51.100.7"], {"cert": "/etc/ssl/a.pem, /etc/ssl/b.pem"}, "absolute path"),
    (["198.51.100.7"], {}, "smtp_relay_allow_plaintext"),
])
def test_tls_settings_that_cannot_work_are_refused(listen, tls, words):
    with pytest.raises(RelayError, match=words):
        listener_settings(listen, ["198.51.100.0/24"], tls=tls)


def test_the_tls_decisions_reach_the_postfix_settings():
    s = relay_postfix_settings("connector", mailbox_budget(), ["198.51.100.7"], ["198.51.100.0/24"], tls=CERT)
    assert s["main"]["smtpd_tls_security_level"] == "may"
    assert s["main"]["smtpd_tls_chain_files"].endswith("relay.pem")


def test_xoauth2_owns_the_upstream_keys_and_its_transport():
    s = relay_postfix_settings("xoauth2", mailbox_budget(2, 30, 2), helper_argv=ARGV, sender="svc@contoso.com")
    assert set(s["main"]) == set(LISTENER_KEYS) | set(XOAUTH2_KEYS)
    assert s["main"]["default_transport"] == s["main"]["relay_transport"] == XOAUTH2_TRANSPORT + ":m365"
    # The basic upstream's relayhost and SASL login, if an earlier run left them, go: msmtp logs in now.
    assert s["main"]["relayhost"] is s["main"]["smtp_sasl_auth_enable"] is s["main"]["smtp_sasl_password_maps"] is None
    assert s["main"]["sender_canonical_maps"] == "static:svc@contoso.com"
    assert s["main"][XOAUTH2_TRANSPORT + "_destination_concurrency_limit"] == "1"
    assert s["main"][XOAUTH2_TRANSPORT + "_destination_rate_delay"] == "4s"
    entry = s["master"][XOAUTH2_TRANSPORT + "/unix"]
    # maxproc is the relay's share too; the helper runs unprivileged.
    assert entry.startswith(XOAUTH2_TRANSPORT + " unix - n n - 1 pipe flags=q null_sender= user=mailops-relay argv=")
    assert entry.endswith(" ".join(ARGV) + " ${sender} ${recipient}")


@pytest.mark.parametrize("mode", ["basic", "connector"])
def test_basic_and_connector_leave_the_upstream_to_the_postfix_preset(mode):
    s = relay_postfix_settings(mode, mailbox_budget(), helper_argv=ARGV)
    # These keys are the preset's: the relay writes none of them.
    for key in ("default_transport", "relay_transport", "relayhost", "sender_canonical_maps",
                "smtp_sasl_auth_enable", "smtp_sasl_password_maps"):
        assert key not in s["main"]
    # Its own xoauth2 transport goes, if an earlier run in that mode left it.
    assert s["master"] == {XOAUTH2_TRANSPORT + "/unix": None}
    assert s["main"][XOAUTH2_TRANSPORT + "_destination_rate_delay"] is None


@pytest.mark.parametrize("kwargs, words", [
    (dict(mode="plain"), "xoauth2, connector or basic"),
    (dict(mode="xoauth2", sender="a b@x"), "static: map"),
    (dict(mode="xoauth2", user="Root User"), "not a user name"),
    (dict(mode="xoauth2", helper_argv=["/opt/my dir/relay-send"]), "whitespace"),
])
def test_bad_relay_settings_are_refused(kwargs, words):
    kwargs.setdefault("helper_argv", ARGV)
    with pytest.raises(RelayError, match=words):
        relay_postfix_settings(budget=mailbox_budget(), **kwargs)


def test_the_submission_endpoint_comes_from_the_profiles():
    assert submission_endpoint("m365") == {"profile": "m365", "host": "smtp.office365.com", "port": 587}
    assert submission_endpoint({"profile": "m365_gcc_high"})["host"] == "smtp.office365.us"
    assert submission_endpoint({"profile": "custom", "host": "mx.example", "ports": [{"port": 2525}]}) == \
        {"profile": "custom", "host": "mx.example", "port": 2525}
    with pytest.raises(RelayError, match="no XOAUTH2"):
        submission_endpoint("m365_connector")
