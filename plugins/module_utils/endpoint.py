# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn the probe's loose input (profile, host, ports, security, require...) into one checked plan.

Everything a user can get wrong is caught here, with a message that says what
to write instead, so the engine never sees bad input.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.module_utils._relay_hop import RelayHopError, hop_params, normalise
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import (
    PROFILE_NAMES,
    ProfileError,
    get_profile,
)

SECURITY_MODES = ("starttls", "tls", "none")
EXPECTATIONS = ("open", "not_offered")
STOP_STAGES = ("connect", "tls", "ehlo", "auth", "send")
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
MECHANISMS = ("auto", "login", "plain", "xoauth2")
MAX_RETRIES = 5
MAX_PORTS = 32
_PORT_KEYS = ("port", "security", "expect", "connect_timeout")
ENDPOINT_KEYS = ("profile", "host", "ports")
_FORBIDDEN = ("\r", "\n", "\x00")
# RFC 5321 caps a command line at 512 octets and RFC 4954 an AUTH line at 12288: longer
# values can never work, so they are refused before any connection is made.
MAX_TEXT = 512
MAX_SECRET = 8192


class EndpointError(ValueError):
    """The input cannot be probed; the message says how to fix it."""


def _port_number(value, where):
    if isinstance(value, bool):
        raise EndpointError("%s: %r is not a port number; give an integer 1-65535" % (where, value))
    if isinstance(value, int):
        num = value
    elif isinstance(value, str) and value.strip().isdigit():
        num = int(value.strip())
    else:
        raise EndpointError("%s: %r is not a port number; give an integer 1-65535, e.g. 587" % (where, value))
    if not 1 <= num <= 65535:
        raise EndpointError("%s: port %d is outside 1-65535" % (where, num))
    return num


def _positive(value, name):
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise EndpointError("%s must be a number of seconds, got %r" % (name, value))
    if not 0 < num <= 300:
        raise EndpointError("%s must be between 0 and 300 seconds, got %r" % (name, value))
    return num


def _no_control(value, name):
    if value is None:
        return value
    if not isinstance(value, str):
        raise EndpointError("%s must be a string, got %r" % (name, type(value).__name__))
    if any(c in value for c in _FORBIDDEN):
        raise EndpointError("%s must not contain CR, LF or NUL (SMTP command injection)" % name)
    _text_ok(value, name, MAX_TEXT)
    return value


def _text_ok(value, name, limit):
    """Refuse text that is not UTF-8 or too long for an SMTP line; never quotes the value."""
    try:
        value.encode("utf-8")
    except UnicodeError:
        raise EndpointError("%s is not valid UTF-8 text" % name)
    if len(value) > limit:
        raise EndpointError("%s is %d characters long; at most %d fit in an SMTP command" % (name, len(value), limit))


def _security_map(security):
    """Return (default mode or 'auto', {port: mode})."""
    if security is None or security == "auto":
        return "auto", {}
    if isinstance(security, str):
        if security not in SECURITY_MODES:
            raise EndpointError("security must be auto, %s, or a map {port: mode}; got %r"
                                % (", ".join(SECURITY_MODES), security))
        return security, {}
    if isinstance(security, dict):
        out = {}
        for key, mode in security.items():
            port = _port_number(key, "security")
            if mode not in SECURITY_MODES:
                raise EndpointError("security for port %d must be one of %s; got %r"
                                    % (port, ", ".join(SECURITY_MODES), mode))
            out[port] = mode
        return "auto", out
    raise EndpointError("security must be auto, a mode, or a map {port: mode}; got %r" % (security,))


def _auto_security(port):
    return "tls" if port == 465 else "starttls"


def _ports(raw_ports, profile, security, connect_timeout):
    default_mode, per_port = _security_map(security)
    by_port = dict((p["port"], p) for p in profile["ports"])
    if raw_ports is None or raw_ports == []:
        raw_ports = [p["port"] for p in profile["ports"]]
    if not isinstance(raw_ports, (list, tuple)):
        raw_ports = [raw_ports]
    if len(raw_ports) > MAX_PORTS:
        raise EndpointError("at most %d ports can be probed at once" % MAX_PORTS)
    out = []
    seen = set()
    for item in raw_ports:
        if isinstance(item, dict):
            unknown = sorted(set(item) - set(_PORT_KEYS))
            if unknown:
                raise EndpointError("ports: unknown key(s) %s; a port entry takes %s"
                                    % (", ".join(unknown), ", ".join(_PORT_KEYS)))
            if "port" not in item:
                raise EndpointError("ports: an entry given as a dict needs a 'port' key")
            num = _port_number(item["port"], "ports")
            given = item
        else:
            num = _port_number(item, "ports")
            given = {}
        if num in seen:
            raise EndpointError("ports: port %d is listed twice" % num)
        seen.add(num)
        base = by_port.get(num, {})
        mode = given.get("security") or per_port.get(num)
        if not mode:
            mode = default_mode if default_mode != "auto" else base.get("security") or _auto_security(num)
        if mode not in SECURITY_MODES:
            raise EndpointError("ports: security for port %d must be one of %s; got %r"
                                % (num, ", ".join(SECURITY_MODES), mode))
        expect = given.get("expect") or base.get("expect") or "open"
        if expect not in EXPECTATIONS:
            raise EndpointError("ports: expect for port %d must be open or not_offered; got %r" % (num, expect))
        # The profile's short timeout for a port it expects closed only ever shortens the global one.
        profile_ct = base.get("connect_timeout")
        ctimeout = _default(given.get("connect_timeout"),
                            min(profile_ct, connect_timeout) if profile_ct else connect_timeout)
        out.append({
            "port": num,
            "security": mode,
            "expect": expect,
            "connect_timeout": _positive(ctimeout, "connect_timeout of port %d" % num),
        })
    for port in per_port:
        if port not in seen:
            raise EndpointError("security names port %d, which is not in ports" % port)
    return out


def _require(require, ports):
    numbers = [p["port"] for p in ports]
    if require in (None, "any", "all"):
        return require or "any"
    if require == "apps_port":
        # The endpoint's first port: the one mailops.smtp.smtp_configure writes into the applications.
        return [numbers[0]]
    if isinstance(require, str) and not require.strip().isdigit():
        raise EndpointError("require must be apps_port, any, all or a list of ports; got %r" % (require,))
    if isinstance(require, (int, str)) and not isinstance(require, bool):
        require = [require]
    if not isinstance(require, (list, tuple)) or not require:
        raise EndpointError("require must be apps_port, any, all or a list of ports; got %r" % (require,))
    out = []
    for item in require:
        num = _port_number(item, "require")
        if num not in numbers:
            raise EndpointError("require names port %d, which is not probed; probed ports: %s"
                                % (num, ", ".join(str(n) for n in numbers)))
        if num not in out:
            out.append(num)
    return out


def _auth(auth):
    if not auth:
        return None
    if not isinstance(auth, dict):
        raise EndpointError("auth must be a dict with username and password or access_token")
    username = _no_control(auth.get("username"), "auth.username")
    if not username:
        raise EndpointError("auth.username is required")
    password = auth.get("password")
    token = auth.get("access_token")
    if password and token:
        raise EndpointError("auth: give either password or access_token, not both")
    for value, name in ((password, "auth.password"), (token, "auth.access_token")):
        if value and isinstance(value, str):
            _text_ok(value, name, MAX_SECRET)
    if not password and not token:
        raise EndpointError("auth: give password (LOGIN/PLAIN) or access_token (XOAUTH2)")
    mechanism = (auth.get("mechanism") or "auto").lower()
    if mechanism not in MECHANISMS:
        raise EndpointError("auth.mechanism must be one of %s; got %r" % (", ".join(MECHANISMS), mechanism))
    if mechanism == "xoauth2" and not token:
        raise EndpointError("auth.mechanism xoauth2 needs access_token")
    if mechanism in ("login", "plain") and not password:
        raise EndpointError("auth.mechanism %s needs password; use xoauth2 with an access_token" % mechanism)
    return {"username": username, "password": password, "access_token": token, "mechanism": mechanism}


def _send(send):
    if not send:
        return None
    if not isinstance(send, dict):
        raise EndpointError("send must be a dict with from and to")
    sender = _no_control(send.get("from"), "send.from")
    if not sender:
        raise EndpointError("send.from is required")
    rcpts = send.get("to")
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    if not rcpts:
        raise EndpointError("send.to needs at least one address")
    rcpts = [_no_control(r, "send.to") for r in rcpts]
    if any(not r for r in rcpts):
        raise EndpointError("send.to has an empty address")
    subject = _no_control(send.get("subject") or "mailops.smtp probe", "send.subject")
    return {"from": sender, "to": list(rcpts), "subject": subject}


def _host(host, profile_name, profile):
    if host:
        host = _no_control(host, "host").strip()
        if not host or any(c in host for c in " /\t"):
            raise EndpointError("host %r is not a host name or address" % host)
        return host.strip("[]")
    default = profile.get("host")
    if not default:
        raise EndpointError("profile %s has no default host; give host" % profile_name)
    if "{" in default:
        raise EndpointError(
            "profile %s needs host: the tenant's MX host, %s (the domain with dots as dashes, "
            "e.g. contoso-com.mail.protection.outlook.com)" % (profile_name, default))
    return default


def _default(value, default):
    return default if value is None else value


def _spread_endpoint(params):
    """params with the endpoint option, the shape the roles take, spread into profile, host and ports.

    The module refuses endpoint together with profile; host and ports are checked here.
    """
    endpoint = params.get("endpoint")
    if endpoint is None:
        return params
    if isinstance(endpoint, str):
        endpoint = {"profile": endpoint}
    if not isinstance(endpoint, dict):
        raise EndpointError("endpoint must be a profile name or a dict with the keys %s; got a %s"
                            % (", ".join(ENDPOINT_KEYS), type(endpoint).__name__))
    unknown = sorted(str(key) for key in set(endpoint) - set(ENDPOINT_KEYS))
    if unknown:
        raise EndpointError("endpoint: unknown key(s) %s; it takes %s" % (", ".join(unknown), ", ".join(ENDPOINT_KEYS)))
    if params.get("host") or params.get("ports"):
        raise EndpointError("give either endpoint or host and ports, not both")
    profile = endpoint.get("profile", "m365")
    if not profile or not isinstance(profile, str):
        raise EndpointError("endpoint: profile must be a profile name (%s); got %r" % (", ".join(PROFILE_NAMES), profile))
    spread = dict(params)
    spread.update(profile=profile, host=endpoint.get("host"), ports=endpoint.get("ports"))
    return spread


def _relay_hops(params):
    """[{relay, plan}] of the relays option: the hop from this host to each of its applications' relays."""
    raw = params.get("relays") or []
    if not isinstance(raw, (list, tuple)):
        raise EndpointError("relays must be a list of dicts with host, port and security")
    hops, seen = [], set()
    for entry in raw:
        try:
            relay = normalise(entry)
        except RelayHopError as exc:
            raise EndpointError(str(exc))
        key = (relay["host"], relay["port"], relay["security"])
        if key in seen:
            continue
        seen.add(key)
        try:
            plan = build_plan(hop_params(relay, params))
        except EndpointError as exc:
            raise EndpointError("relays: %s:%d: %s" % (relay["host"], relay["port"], exc))
        hops.append({"relay": relay, "plan": plan})
    return hops


def build_plan(params):
    """Check the module's parameters and return the probe plan (a dict).

    params is the module's params dict (or the same shape from a test).
    Raises EndpointError with a message for the user.
    """
    params = _spread_endpoint(params)
    profile_name = params.get("profile") or "m365"
    try:
        profile = get_profile(profile_name)
    except ProfileError as exc:
        raise EndpointError("%s (profiles: %s)" % (exc, ", ".join(PROFILE_NAMES)))
    timeout = _positive(_default(params.get("timeout"), 10), "timeout")
    connect_timeout = _positive(_default(params.get("connect_timeout"), 5), "connect_timeout")
    retries = params.get("retries", 2)
    if retries is None:
        retries = 2
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise EndpointError("retries must be an integer from 0 to %d, got %r" % (MAX_RETRIES, retries))
    min_tls = str(params.get("min_tls_version") or "1.2")
    if min_tls not in TLS_VERSIONS:
        raise EndpointError("min_tls_version must be one of %s, got %r" % (", ".join(TLS_VERSIONS), min_tls))

    ports = _ports(params.get("ports"), profile, params.get("security", "auto"), connect_timeout)
    auth = _auth(params.get("auth"))
    send = _send(params.get("send"))
    # A connector recognises the sender by source IP or client certificate, never by AUTH, so
    # sending is the only way to see whether it relays for this host.
    relays_without_auth = profile_name == "m365_connector"
    if send and not auth and not relays_without_auth:
        raise EndpointError("send needs auth: Microsoft 365 takes mail only from an authenticated mailbox "
                            "(only the m365_connector profile relays without auth)")
    helo = _no_control(params.get("helo"), "helo")
    if helo is not None and (not helo.strip() or " " in helo.strip()):
        raise EndpointError("helo must be one host name without spaces, got %r" % helo)

    stop_after = params.get("stop_after") or "auto"
    if stop_after == "auto":
        stop_after = "send" if send else ("auth" if auth else "ehlo")
    if stop_after not in STOP_STAGES:
        raise EndpointError("stop_after must be auto or one of %s, got %r" % (", ".join(STOP_STAGES), stop_after))
    if not auth and (stop_after == "auth" or (stop_after == "send" and not relays_without_auth)):
        raise EndpointError("stop_after: %s needs auth" % stop_after)
    if stop_after == "send" and not send:
        raise EndpointError("stop_after: send needs send (from, to)")
    if auth and all(p["security"] == "none" for p in ports) and stop_after in ("auth", "send"):
        raise EndpointError("auth needs TLS: credentials are never sent in clear; "
                            "set security to starttls or tls")

    client_key = params.get("client_key")
    if client_key and not params.get("client_cert"):
        raise EndpointError("client_key needs client_cert")

    oauth_authority = None
    if params.get("check_oauth_endpoint"):
        oauth_authority = profile.get("oauth_authority")
        if not oauth_authority:
            raise EndpointError("check_oauth_endpoint: profile %s has no OAuth token authority; use one of the "
                                "m365 profiles or set check_oauth_endpoint: false" % profile_name)

    connector = None
    if params.get("connector_host"):
        if profile_name == "m365_connector":
            raise EndpointError("connector_host: the profile is m365_connector already; give the MX host as host")
        try:
            # Port 25 to the MX host, with the same TLS settings and timeouts: a connector
            # recognises a host by its address or certificate, never by a login.
            connector = build_plan({
                "profile": "m365_connector", "host": params["connector_host"], "timeout": timeout,
                "connect_timeout": connect_timeout, "retries": retries, "min_tls_version": min_tls,
                "validate_certs": params.get("validate_certs", True), "ca_path": params.get("ca_path"),
                "client_cert": params.get("client_cert"), "client_key": client_key, "helo": helo})
        except EndpointError as exc:
            raise EndpointError("connector_host: %s" % exc)

    return {
        "relays": _relay_hops(params),
        "profile": profile_name,
        "host": _host(params.get("host"), profile_name, profile),
        "ports": ports,
        "require": _require(params.get("require", "any"), ports),
        "timeout": timeout,
        "retries": retries,
        "min_tls_version": min_tls,
        "validate_certs": params.get("validate_certs", True) is not False,
        "ca_path": params.get("ca_path"),
        "client_cert": params.get("client_cert"),
        "client_key": client_key,
        "helo": helo.strip() if helo else None,
        "auth": auth,
        "auth_all_ports": bool(params.get("auth_all_ports")),
        "send": send,
        "stop_after": stop_after,
        "oauth_authority": oauth_authority,
        # The profile's own, checked or not: the report judges XOAUTH2 readiness against it.
        "profile_oauth_authority": profile.get("oauth_authority"),
        "connector": connector,
    }
