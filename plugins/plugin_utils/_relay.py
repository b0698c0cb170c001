# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the smtp_relay role writes into Postfix, decided in one place (docs/relay.md).

Two groups of main.cf parameters, so that the relay and the postfix preset of
mailops.smtp.settings can share one Postfix instance without undoing each other:

* LISTENER_KEYS: who may submit to the relay, for which recipients, and with which TLS.
  Always the relay's.
* the upstream: in the xoauth2 mode the relay's own pipe transport (XOAUTH2_KEYS and a
  master.cf entry); in the basic and connector modes the postfix preset's keys, which the
  role writes through mailops.smtp.settings with the budget computed here.

Microsoft 365 limits a mailbox, not a host: at most 3 connections sending at once and
30 messages a minute. Relays that share a mailbox share that budget, so each gets its part.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import math
import re

# Microsoft 365, per mailbox (m365-facts.md, "Limits per mailbox").
MAILBOX_CONNECTIONS_MAX = 3
MAILBOX_MESSAGES_PER_MINUTE_MAX = 30
# Microsoft's minute. Only a lab whose Microsoft 365 stand-in runs a scaled clock has a shorter one.
MAILBOX_MINUTE_SECONDS = 60

# The pipe transport of the xoauth2 mode. An underscore, not a '-': Postfix derives
# parameter names from it (<transport>_destination_rate_delay).
XOAUTH2_TRANSPORT = "mailops_xoauth2"
# One fixed next hop, so that Postfix counts every message as one destination (the
# mailbox): without it, the rate delay and the concurrency would apply per recipient domain.
XOAUTH2_NEXTHOP = "m365"

LOOPBACK_NETWORKS = ["127.0.0.0/8", "[::1]/128"]

# The listener's TLS: a designated relay's certificate, and STARTTLS hidden from loopback clients.
LISTENER_TLS_KEYS = ("smtpd_tls_security_level", "smtpd_tls_chain_files", "smtpd_tls_protocols",
                     "smtpd_tls_mandatory_protocols", "smtpd_tls_loglevel",
                     "smtpd_discard_ehlo_keyword_address_maps")
LISTENER_KEYS = ("inet_interfaces", "mynetworks", "smtpd_relay_restrictions",
                 "smtpd_recipient_restrictions") + LISTENER_TLS_KEYS
# smtpd_tls_level: what the relay asks of its network clients. may: STARTTLS offered, plaintext
# still accepted (the via_relay settings make the applications insist on it); encrypt: a network
# client that does not start TLS is refused before any recipient (docs/relay.md, "STARTTLS").
TLS_LEVELS = ("may", "encrypt")
# The client addresses of a connection to the relay's own loopback listener. Postfix looks the
# client address up as it is (no CIDR in an inline: map), and the relay listens on 127.0.0.1 only.
LOOPBACK_CLIENTS = ("127.0.0.1", "::1")
_RELAY_RESTRICTIONS = "permit_mynetworks, reject_unauth_destination"
XOAUTH2_KEYS = ("default_transport", "relay_transport", "relayhost", "sender_canonical_maps",
                "smtp_sasl_auth_enable", "smtp_sasl_password_maps",
                XOAUTH2_TRANSPORT + "_destination_concurrency_limit",
                XOAUTH2_TRANSPORT + "_destination_rate_delay",
                XOAUTH2_TRANSPORT + "_destination_concurrency_failed_cohort_limit")

_DOMAIN = re.compile(r"^(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z")
_ADDRESS = re.compile(r"^[^\s@{}$,]+@[^\s@{}$,]+\Z")
# A path Postfix can hold in a list parameter: absolute, no whitespace, comma, brace or '$'.
_TLS_PATH = re.compile(r"^/[^\s,{}$]*\Z")


class RelayError(ValueError):
    """A setting the relay cannot honour; the message says what to change."""


def _positive_int(value, name):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise RelayError("%s must be a whole number, not %r" % (name, value))
    if n < 1 or n != float(value):
        raise RelayError("%s must be a whole number of at least 1, not %r" % (name, value))
    return n


def mailbox_budget(connections=2, messages_per_minute=MAILBOX_MESSAGES_PER_MINUTE_MAX, relays=1,
                   minute_seconds=MAILBOX_MINUTE_SECONDS):
    """This relay's share of its mailbox's budget: {'concurrency': N, 'rate_delay': 'Ns'}.

    Each of `relays` relays gets connections // relays connections and one message every
    ceil(minute_seconds * relays / messages_per_minute) seconds, so the sums never exceed the
    mailbox's limits (rounding always goes down for connections and up for the delay).

    minute_seconds is how long the mailbox's minute lasts: 60 s at Microsoft. A lab whose stand-in
    counts its per-minute limit on a scaled clock gives the length of that minute, so that the
    relays' pace in real seconds is the mailbox's budget on that clock (docs/relay.md).
    """
    connections = _positive_int(connections, "smtp_relay_mailbox_connections")
    per_minute = _positive_int(messages_per_minute, "smtp_relay_mailbox_messages_per_minute")
    relays = _positive_int(relays, "smtp_relay_mailbox_relays")
    minute = _positive_int(minute_seconds, "smtp_relay_mailbox_minute_seconds")
    if connections > MAILBOX_CONNECTIONS_MAX:
        raise RelayError("smtp_relay_mailbox_connections is %d, but Microsoft 365 answers a mailbox's "
                         "connection number %d sending at once with 432 4.3.2; use %d or fewer"
                         % (connections, MAILBOX_CONNECTIONS_MAX + 1, MAILBOX_CONNECTIONS_MAX))
    if per_minute > MAILBOX_MESSAGES_PER_MINUTE_MAX:
        raise RelayError("smtp_relay_mailbox_messages_per_minute is %d, but Microsoft 365 delays every "
                         "message of a mailbox beyond %d a minute; use %d or fewer"
                         % (per_minute, MAILBOX_MESSAGES_PER_MINUTE_MAX, MAILBOX_MESSAGES_PER_MINUTE_MAX))
    if minute > MAILBOX_MINUTE_SECONDS:
        raise RelayError("smtp_relay_mailbox_minute_seconds is %d, but a minute has %d seconds; leave it at %d "
                         "(only a lab with a scaled clock sets it shorter)"
                         % (minute, MAILBOX_MINUTE_SECONDS, MAILBOX_MINUTE_SECONDS))
    if relays > connections:
        raise RelayError("%d relays share one mailbox whose budget is %d connection(s) sending at once: "
                         "each relay needs one. Send through at most %d designated relay hosts "
                         "(smtp_relay_listen on them, the applications' relay host pointing there), or "
                         "give each group of relays its own mailbox." % (relays, connections, connections))
    return {"concurrency": connections // relays,
            "rate_delay": "%ds" % int(math.ceil(float(minute) * relays / per_minute))}


def _network(value):
    text = str(value).strip()
    bare = text[1:].replace("]", "", 1) if text.startswith("[") else text
    try:
        net = ipaddress.ip_network(bare, strict=False)
    except ValueError:
        raise RelayError("smtp_relay_allowed_networks: %r is not an address or network (CIDR); "
                         "name each client network as 198.51.100.0/24 or 2001:db8::/64" % (value,))
    if net.prefixlen == 0:
        raise RelayError("smtp_relay_allowed_networks: %s lets every address relay (an open relay); "
                         "name the client networks" % net)
    return "[%s]/%d" % (net.network_address, net.prefixlen) if net.version == 6 else str(net)


def _listen_addresses(listen):
    if listen in (None, "", "loopback", []):
        return None
    items = [listen] if not isinstance(listen, (list, tuple)) else list(listen)
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_address(str(item).strip())))
        except ValueError:
            raise RelayError("smtp_relay_listen: %r is not an IP address; give the relay host's own "
                             "address(es), or 'loopback' for a relay on each application host" % (item,))
    return out


def _domains(domains, what):
    out = []
    for d in domains or []:
        d = str(d).strip().lower().rstrip(".")
        if not _DOMAIN.match(d):
            raise RelayError("%s: %r is not a domain name" % (what, d))
        out.append(d)
    return out


def _tls_file(value, name):
    text = str(value or "").strip()
    if text and not _TLS_PATH.match(text):
        raise RelayError("%s must be an absolute path on the relay host without whitespace, ',', braces or "
                         "'$' (Postfix keeps it in a list), not %r" % (name, value))
    return text


def _loopback_without_starttls():
    """On the loopback, no STARTTLS and no TLS keys: some mail libraries (Symfony Mailer) upgrade whenever it
    is offered, and then fail on a certificate that names the relay's network address, not 127.0.0.1."""
    keys = dict.fromkeys(LISTENER_TLS_KEYS)
    keys["smtpd_tls_security_level"] = "none"
    return keys


def listener_tls_settings(addresses, tls=None):
    """The main.cf keys of the listener's TLS (LISTENER_TLS_KEYS) and the extra relay restriction.

    tls: {cert, key, level, allow_plaintext} (the role's smtp_relay_tls_* and smtp_relay_allow_plaintext).
    Returns (keys, restriction or None). The decisions (docs/relay.md, "STARTTLS"):
    * loopback only: never STARTTLS; a certificate is refused, as it would never be used;
    * listen addresses with a certificate: STARTTLS for network clients, hidden from loopback clients
      (smtpd_discard_ehlo_keyword_address_maps); level encrypt refuses network clients without TLS;
    * listen addresses without a certificate: refused, unless allow_plaintext says the network is trusted.
    """
    tls = dict(tls or {})
    cert = _tls_file(tls.get("cert"), "smtp_relay_tls_cert")
    key = _tls_file(tls.get("key"), "smtp_relay_tls_key")
    level = tls.get("level") or "may"
    if level not in TLS_LEVELS:
        raise RelayError("smtp_relay_tls_level is may or encrypt, not %r" % (level,))
    if key and not cert:
        raise RelayError("smtp_relay_tls_key is set without smtp_relay_tls_cert; give the certificate too")
    if addresses is None:
        if cert:
            raise RelayError("smtp_relay_tls_cert is set, but the relay listens only on the loopback, where it never "
                             "offers STARTTLS (Symfony Mailer would upgrade and fail on the name); unset it, or give "
                             "smtp_relay_listen the relay host's addresses")
        return _loopback_without_starttls(), None
    if not cert:
        if not tls.get("allow_plaintext"):
            raise RelayError("smtp_relay_listen names %s, but the relay has no certificate: its clients would send "
                             "mail across the network in plaintext. Give smtp_relay_tls_cert (and "
                             "smtp_relay_tls_key) for STARTTLS, or set smtp_relay_allow_plaintext: true if that "
                             "network is trusted (docs/relay.md)" % ", ".join(addresses))
        return _loopback_without_starttls(), None
    keys = {
        # Postfix's order: each key before its certificate chain; one file may hold both, key first.
        "smtpd_tls_chain_files": ", ".join([key, cert] if key else [cert]),
        # may even with level encrypt: encrypt would also refuse the loopback clients, to whom STARTTLS is
        # not offered; encrypt is enforced for network clients by reject_plaintext_session instead.
        "smtpd_tls_security_level": "may",
        "smtpd_tls_protocols": ">=TLSv1.2",
        "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
        # One line per TLS session (protocol, cipher): the log shows which clients use STARTTLS.
        "smtpd_tls_loglevel": "1",
        "smtpd_discard_ehlo_keyword_address_maps":
            "inline:{ %s }" % ", ".join("%s=starttls" % a for a in LOOPBACK_CLIENTS),
    }
    restriction = None
    if level == "encrypt":
        loopback_ok = "check_client_access inline:{ %s }" % ", ".join("%s=OK" % a for a in LOOPBACK_CLIENTS)
        restriction = "%s, reject_plaintext_session" % loopback_ok
    return keys, restriction


def listener_settings(listen="loopback", allowed_networks=None, recipient_domains=None, tls=None):
    """The main.cf keys of who may submit, to whom and with which TLS (LISTENER_KEYS).

    Only the loopback and the given networks may relay (permit_mynetworks, then
    reject_unauth_destination: Postfix never relays for anyone else). With
    recipient_domains, every other recipient is refused, even from an allowed client.
    The TLS decisions are listener_tls_settings'.
    """
    addresses = _listen_addresses(listen)
    networks = list(LOOPBACK_NETWORKS)
    for n in allowed_networks or []:
        n = _network(n)
        if n not in networks:
            networks.append(n)
    if addresses is not None and len(networks) == len(LOOPBACK_NETWORKS):
        raise RelayError("smtp_relay_listen names %s but smtp_relay_allowed_networks is empty: no client "
                         "could use the relay; name the application hosts' networks" % ", ".join(addresses))
    domains = _domains(recipient_domains, "smtp_relay_recipient_domains")
    if domains:
        # inline: maps need no postmap; a domain key matches every address of the domain.
        recipients = "check_recipient_access inline:{ %s }, reject" % ", ".join("%s=OK" % d for d in domains)
    else:
        recipients = _RELAY_RESTRICTIONS
    tls_keys, tls_restriction = listener_tls_settings(addresses, tls)
    out = {
        "inet_interfaces": "loopback-only" if addresses is None else ", ".join(["127.0.0.1"] + addresses),
        "mynetworks": " ".join(networks),
        "smtpd_relay_restrictions":
            "%s, %s" % (tls_restriction, _RELAY_RESTRICTIONS) if tls_restriction else _RELAY_RESTRICTIONS,
        "smtpd_recipient_restrictions": recipients,
    }
    out.update(tls_keys)
    return out


def xoauth2_settings(budget, helper_argv, user, sender=None, maxproc=None):
    """The main.cf keys and the master.cf entry of the xoauth2 mode's pipe transport."""
    t = XOAUTH2_TRANSPORT
    if sender is not None and sender != "" and not _ADDRESS.match(str(sender)):
        raise RelayError("smtp_relay_from_address %r cannot be used in a static: map "
                         "(it needs one '@', no whitespace, braces, '$' or ',')" % (sender,))
    if not re.match(r"^[a-z_][a-z0-9_-]*\Z", str(user)):
        raise RelayError("smtp_relay_user %r is not a user name" % (user,))
    for arg in helper_argv:
        if re.search(r"\s", str(arg)):
            raise RelayError("the relay helper's argument %r holds whitespace, which master.cf cannot carry; "
                             "use paths without spaces" % (arg,))
    main = {
        "default_transport": "%s:%s" % (t, XOAUTH2_NEXTHOP),
        "relay_transport": "%s:%s" % (t, XOAUTH2_NEXTHOP),
        "relayhost": None,
        # The basic upstream's SASL login, if a run in that mode left it: msmtp logs in now, and the
        # leftover step removes the map (the password) once nothing names it.
        "smtp_sasl_auth_enable": None,
        "smtp_sasl_password_maps": None,
        "sender_canonical_maps": "static:%s" % sender if sender else None,
        t + "_destination_concurrency_limit": str(budget["concurrency"]),
        t + "_destination_rate_delay": budget["rate_delay"],
        # Postfix's advice with a rate delay: one failed connection must not stop the destination.
        t + "_destination_concurrency_failed_cohort_limit": "10",
    }
    # maxproc caps the helpers (each one SMTP connection) even if the limits above were changed.
    entry = "%s unix - n n - %d pipe flags=q null_sender= user=%s argv=%s ${sender} ${recipient}" % (
        t, int(maxproc or budget["concurrency"]), user, " ".join(str(a) for a in helper_argv))
    return {"main": main, "master": {t + "/unix": entry}}


def relay_postfix_settings(mode, budget, listen="loopback", allowed_networks=None, recipient_domains=None,
                           helper_argv=None, user="mailops-relay", sender=None, tls=None):
    """Everything the relay writes with mailops.smtp.postconf: {'main': {...}, 'master': {...}}.

    In the basic and connector modes the upstream keys are the postfix preset's (written with
    mailops.smtp.settings); the relay then removes its own xoauth2 transport, if an earlier
    run in that mode left it.
    """
    if mode not in ("xoauth2", "basic", "connector"):
        raise RelayError("smtp_relay_upstream is xoauth2, connector or basic, not %r" % (mode,))
    out = {"main": listener_settings(listen, allowed_networks, recipient_domains, tls), "master": {}}
    if mode == "xoauth2":
        x = xoauth2_settings(budget, helper_argv or [], user, sender)
        out["main"].update(x["main"])
        out["master"].update(x["master"])
    else:
        for key in XOAUTH2_KEYS:
            if key.startswith(XOAUTH2_TRANSPORT):
                out["main"][key] = None
        out["master"][XOAUTH2_TRANSPORT + "/unix"] = None
    return out


def submission_endpoint(endpoint="m365"):
    """{'profile', 'host', 'port'} of the XOAUTH2 upstream, from a profile name or {profile, host, ports}."""
    from ansible_collections.mailops.smtp.plugins.module_utils.profiles import PROFILES
    ep = {"profile": endpoint} if isinstance(endpoint, str) else dict(endpoint or {})
    profile = ep.get("profile") or "m365"
    known = PROFILES.get(profile)
    if known is None or "xoauth2" not in known.get("auth_mechanisms", []):
        if not ep.get("host"):
            raise RelayError("the endpoint profile %r offers no XOAUTH2 submission; use m365, m365_gcc_high, "
                             "m365_dod or m365_china, or give {profile: custom, host, ports}" % (profile,))
    host = ep.get("host") or known["host"]
    ports = ep.get("ports") or (known or {}).get("ports") or [587]
    first = ports[0]
    port = int(first.get("port") if isinstance(first, dict) else first)
    return {"profile": profile, "host": host, "port": port}
