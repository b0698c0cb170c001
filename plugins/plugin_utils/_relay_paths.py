# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each application's path to Microsoft 365, and what validate checks for relays (issue 20, section 3).

Internal use only. Two halves:
- relay_checks(): for the smtp_validate role (filter mailops.smtp.validate_relay_checks), what a host
  checks: the hops to the relays its via_relay applications send to, and, when the host runs a relay
  itself, which upstream to check from it;
- app_path() and path_verdict(): for the fleet report, an application's path (direct basic, direct
  XOAUTH2, relay -> xoauth2, ...), whether it works now and whether it survives the retirement of basic
  auth.

A host runs a relay when one of its via_relay applications sends to a loopback relay (the smtp_relay role
on the host itself), or when it has the host variable smtp_relay_listen set to addresses (a designated
relay host: the relay playbook needs that variable for it). The relay's upstream is the host variable
mailops_smtp_relay_upstream (the smtp_relay role's default for smtp_relay_upstream), the one fact that
both roles read.

The path is a function of (application, relay upstream, credential type) only, so that an upstream
observed on the host (issue 21) can replace the declared one without touching anything else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.module_utils._presets_via_relay import is_loopback, relay_of
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import ProfileError, connector_host
from ansible_collections.mailops.smtp.plugins.plugin_utils._configure import describe_app

RELAY_UPSTREAMS = ("xoauth2", "connector", "basic")
# The smtp_relay role's variable for where a relay listens: addresses mark a designated relay host.
RELAY_LISTEN_VAR = "smtp_relay_listen"
# The host's own relay upstream (the smtp_relay role's variable); set, it says the host runs a relay.
RELAY_OWN_UPSTREAM_VAR = "smtp_relay_upstream"
# Path code -> (label, survives the retirement of basic auth: True, False, or None when not known).
PATHS = {
    "direct_basic": ("direct basic", False),
    "direct_xoauth2": ("direct XOAUTH2", True),
    "direct_graph": ("direct Microsoft Graph", True),
    "direct_connector": ("direct connector", True),
    "direct_unknown": ("direct (login not known)", None),
    "relay_xoauth2": (u"relay \u2192 xoauth2", True),
    "relay_connector": (u"relay \u2192 connector", True),
    "relay_basic": (u"relay \u2192 basic", False),
    "relay_unknown": (u"relay \u2192 upstream not known", None),
}
# Presets whose way depends on the credential type (msmtp: XOAUTH2 with oauth2; gitlab: Graph with oauth2).
_CREDENTIAL_DEPENDENT = ("msmtp", "gitlab")


class RelayPathError(ValueError):
    """An input the path logic cannot use; the message says what to give instead."""


def _as_dict(app):
    return app if isinstance(app, dict) else {"preset": str(app)}


def _via_relay_apps(apps):
    return [a for a in (apps or []) if isinstance(a, dict) and (a.get("options") or {}).get("mode") == "via_relay"]


def relay_hops(apps):
    """[{host, port, security}] of the relays the host's via_relay applications send to, each once, in order.

    security is what the applications use: STARTTLS for a remote relay, none on loopback (relay_of)."""
    hops = []
    for app in _via_relay_apps(apps):
        relay = relay_of(app.get("options") or {})
        hop = {"host": relay["host"], "port": relay["port"], "security": "starttls" if relay["tls"] else "none"}
        if hop not in hops:
            hops.append(hop)
    return hops


def runs_relay(apps, listen=None):
    """Whether the host runs a relay itself: a via_relay application on loopback, or smtp_relay_listen addresses."""
    if any(is_loopback(h["host"]) for h in relay_hops(apps)):
        return True
    return bool(listen) and listen != "loopback"


def _connector_app_host(apps):
    """The MX host of a Postfix in connector mode among the host's apps: the relay on the host itself."""
    for app in apps or []:
        if isinstance(app, dict) and app.get("preset") == "postfix":
            described = describe_app(app, "m365", "basic")
            if described["connector"] and (described["options"].get("tenant") or (app.get("smtp") or {}).get("host")):
                return described["connector_host"]
    return None


def _connector_host(connector_host_var, tenant, apps):
    """Where a connector upstream is checked: smtp_validate_connector_host, else the MX host of smtp_relay_tenant,
    else that of a Postfix in connector mode on the host; None when none is known (reported as not checked)."""
    if connector_host_var:
        return connector_host_var
    if tenant:
        try:
            return connector_host(tenant)
        except ProfileError as exc:
            raise RelayPathError("smtp_relay_tenant: %s" % exc)
    return _connector_app_host(apps)


def _check_upstream_value(upstream, name="mailops_smtp_relay_upstream"):
    if upstream not in (None, "") and upstream not in RELAY_UPSTREAMS:
        raise RelayPathError("%s must be one of %s, not %r" % (name, ", ".join(RELAY_UPSTREAMS), upstream))
    return upstream or None


def own_relay_upstream(apps, upstream=None, listen=None, explicit=None):
    """The upstream of the relay this host runs itself, or None when it runs none or the upstream is unknown.

    The one rule validate and rotate share. explicit is the host's smtp_relay_upstream from the inventory:
    setting it says the host runs a relay. Otherwise the host runs one when runs_relay() says so, and its
    upstream is the shared mailops_smtp_relay_upstream (upstream), which on a host that runs no relay names
    the upstream of the remote relay its applications send to, not one of its own.
    """
    explicit = _check_upstream_value(explicit, RELAY_OWN_UPSTREAM_VAR)
    if explicit:
        return explicit
    upstream = _check_upstream_value(upstream)
    return upstream if upstream and runs_relay(apps, listen) else None


def relay_checks(apps, upstream=None, listen=None, connector_host_var=None, tenant=None, explicit=None):
    """What the smtp_validate role checks on one host for relays.

    apps: the host's smtp_configure_apps; upstream: its mailops_smtp_relay_upstream; listen: its
    smtp_relay_listen; connector_host_var: smtp_validate_connector_host; tenant: smtp_relay_tenant;
    explicit: its smtp_relay_upstream from the inventory (own_relay_upstream).
    Returns {hops, runs_relay, upstream, upstream_check, connector_host}: upstream_check is the upstream to
    check from this host (None when it runs no relay, or its upstream is not known), connector_host the MX
    host to check for a connector upstream.
    """
    if apps is not None and not isinstance(apps, list):
        raise RelayPathError("smtp_configure_apps must be a list of applications")
    check = own_relay_upstream(apps, upstream, listen, explicit)
    conn = _connector_host(connector_host_var, tenant, apps) if check == "connector" else None
    return {"hops": relay_hops(apps), "runs_relay": runs_relay(apps, listen) or bool(explicit),
            "upstream": upstream or None,
            "upstream_check": check, "connector_host": conn}


def app_path(app, relay_upstream=None, cred_type=None, profile="m365"):
    """The path code (a key of PATHS) of one application.

    app: an item of smtp_configure_apps (or a preset name); relay_upstream: the upstream of the relay it
    sends through, when it is in via_relay mode (declared today, observed later); cred_type: basic, oauth2
    or None (not known); profile: the endpoint's profile (m365_connector makes postfix a connector).
    """
    app = _as_dict(app)
    described = describe_app(app, profile or "m365", cred_type or "basic")
    if described["via_relay"]:
        return "relay_%s" % relay_upstream if relay_upstream in RELAY_UPSTREAMS else "relay_unknown"
    if described["connector"]:
        return "direct_connector"
    explicit = (app.get("smtp") or {}).get("mechanism") if isinstance(app.get("smtp"), dict) else None
    if described["kind"] in _CREDENTIAL_DEPENDENT and cred_type is None and not explicit:
        return "direct_unknown"
    if described["xoauth2"]:
        return "direct_xoauth2"
    if described["kind"] == "gitlab" and cred_type == "oauth2":
        return "direct_graph"
    return "direct_basic"


def path_label(code):
    return PATHS[code][0]


def survives_retirement(code):
    return PATHS[code][1]


def all_known(values):
    """True when every value is True, False when one is False, else None (something was not checked)."""
    values = list(values)
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None


def path_works_now(code, direct_ok=None, connector_ok=None, hop_ok=None, upstream_ok=None):
    """Whether the path works now, from the checks that bear on it: True, False, or None (not checked).

    direct_ok: the applications' port (and the login, where one was checked) from this host; connector_ok:
    the connector path from this host; hop_ok: the hop to the relay; upstream_ok: the relay's upstream check.
    """
    if code.startswith("relay_"):
        return all_known([hop_ok, upstream_ok])
    if code == "direct_connector":
        return connector_ok
    return direct_ok


def relay_login(credential, mode):
    """The probe's auth option for a relay's upstream login, as the relay logs in: XOAUTH2 with a token the host
    requests itself from an oauth2 credential (tenant, client id, client secret), LOGIN with a basic one.

    None when there is no credential, or its type does not fit the upstream (an oauth2 credential for a basic
    upstream, a basic one for xoauth2): that is validate's input, not the relay's fault, so the login is not
    checked, and the report says so, rather than fail the relay.
    """
    cred = credential if isinstance(credential, dict) else {}
    oauth2 = bool(cred.get("client_id")) or cred.get("type") == "oauth2"
    if not cred.get("username") or mode not in ("xoauth2", "basic") or oauth2 != (mode == "xoauth2"):
        return None
    if oauth2:
        return {"username": cred["username"], "mechanism": "xoauth2", "tenant_id": cred.get("tenant_id"),
                "client_id": cred.get("client_id"), "client_secret": cred.get("client_secret")}
    return {"username": cred["username"], "mechanism": "login", "password": cred.get("password")}
