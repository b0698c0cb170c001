# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hop from an application host to its relay (options.mode via_relay), for mailops.smtp.probe.

Internal use only. An application in via_relay mode sends to a relay of our own with no login:
TCP, the banner, EHLO, and STARTTLS where the application uses it (a remote relay; never on
loopback, where the relay offers none). So the hop is probed that far and no further: no AUTH,
since the relay takes none. A failure to get there at all is told as the relay's fault
(relay_unreachable), with what to do about it, rather than as a firewall on the way to Microsoft.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

DEFAULT_PORT = 25
SECURITIES = ("none", "starttls")
RELAY_KEYS = ("host", "port", "security")
# The probe's codes for "nothing there to talk to", and how each reads for a relay.
_UNREACHABLE = {
    "tcp_refused": "refused the connection",
    "tcp_timeout": "did not answer (the connection timed out)",
    "dns_failure": "has a name that does not resolve on this host",
    "banner_timeout": "took the connection but sent no greeting",
}


class RelayHopError(ValueError):
    """A relay entry the probe cannot use; the message says what to write instead."""


def _is_loopback(host):
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise(relay):
    """{host, port, security} of one relay entry; security defaults as the via_relay presets write it:
    none on loopback, starttls for a remote relay."""
    if not isinstance(relay, dict) or not relay.get("host"):
        raise RelayHopError("relays: each entry is a dict with host (required), port and security; got %r"
                            % (relay,))
    unknown = sorted(str(k) for k in set(relay) - set(RELAY_KEYS))
    if unknown:
        raise RelayHopError("relays: unknown key(s) %s; an entry takes %s" % (", ".join(unknown),
                                                                              ", ".join(RELAY_KEYS)))
    host = str(relay["host"])
    port = relay.get("port")
    port = DEFAULT_PORT if port in (None, "") else port
    if isinstance(port, bool) or not str(port).isdigit() or not 1 <= int(port) <= 65535:
        raise RelayHopError("relays: port of %s must be a number from 1 to 65535, got %r" % (host, port))
    security = relay.get("security") or ("none" if _is_loopback(host) else "starttls")
    if security not in SECURITIES:
        raise RelayHopError("relays: security of %s must be none or starttls (the relay takes no implicit TLS), "
                            "got %r" % (host, security))
    return {"host": host, "port": int(port), "security": security}


def hop_params(relay, base):
    """The probe parameters of one hop: the custom profile, the relay's one port, up to EHLO (after
    STARTTLS where used); the TLS settings and timeouts of the main probe (base, its params)."""
    shared = ("timeout", "connect_timeout", "retries", "min_tls_version", "validate_certs", "ca_path", "helo")
    params = dict((k, base.get(k)) for k in shared)
    params.update(profile="custom", host=relay["host"], stop_after="ehlo", require="any",
                  ports=[{"port": relay["port"], "security": relay["security"]}])
    return params


def _failed_code(port_result):
    return ((port_result or {}).get("diagnosis") or {}).get("code")


def hop_result(relay, probe_result, diagnose):
    """The hop's result: the probe's, with the relay it names, and the relay's own diagnosis when
    nothing there answered. diagnose(code) is the catalogue look-up (diagnosis.diagnosis)."""
    port = (probe_result.get("ports") or {}).get(str(relay["port"])) or {}
    out = {"relay": dict(relay), "ok": bool(probe_result.get("ok")), "summary": probe_result.get("summary", ""),
           "elapsed_ms": probe_result.get("elapsed_ms"), "ports": probe_result.get("ports") or {},
           "diagnosis": None, "message": None}
    if out["ok"]:
        return out
    code = _failed_code(port)
    where = "the relay at %s:%d" % (relay["host"], relay["port"])
    if code in _UNREACHABLE:
        out["diagnosis"] = diagnose("relay_unreachable")
        out["message"] = "%s %s: run the mailops.smtp.relay playbook on %s, start its Postfix, or check " \
                         "smtp_relay_listen" % (where, _UNREACHABLE[code],
                                                "this host" if _is_loopback(relay["host"]) else "the relay host")
    else:
        out["diagnosis"] = diagnose(code or "unknown")
        out["message"] = "%s: %s" % (where, out["diagnosis"]["title"])
    return out
