# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one table of mail endpoints that every plugin and role of mailops.smtp reads.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Port expectations:
#   open         the endpoint offers this port; a failure here is a real fault.
#   not_offered  the endpoint is known not to serve this port (Microsoft 365
#                does not offer 465 for client submission). A silent drop is
#                then informational, and a short connect timeout keeps the
#                probe fast.
NOT_OFFERED_CONNECT_TIMEOUT = 2

PROFILES = {
    "m365": {
        "description": "Microsoft 365 worldwide: SMTP AUTH client submission",
        "host": "smtp.office365.com",
        "ports": [
            {"port": 587, "security": "starttls", "expect": "open"},
            {"port": 465, "security": "tls", "expect": "not_offered",
             "connect_timeout": NOT_OFFERED_CONNECT_TIMEOUT},
        ],
        "oauth_authority": "https://login.microsoftonline.com",
        "oauth_scope": "https://outlook.office365.com/.default",
        "auth_mechanisms": ["login", "xoauth2"],
    },
    "m365_gcc_high": {
        "description": "Microsoft 365 GCC High",
        "host": "smtp.office365.us",
        "ports": [
            {"port": 587, "security": "starttls", "expect": "open"},
            {"port": 465, "security": "tls", "expect": "not_offered",
             "connect_timeout": NOT_OFFERED_CONNECT_TIMEOUT},
        ],
        "oauth_authority": "https://login.microsoftonline.us",
        "oauth_scope": "https://outlook.office365.us/.default",
        "auth_mechanisms": ["login", "xoauth2"],
    },
    "m365_dod": {
        "description": "Microsoft 365 DoD",
        "host": "outlook-dod.office365.us",
        "ports": [
            {"port": 587, "security": "starttls", "expect": "open"},
            {"port": 465, "security": "tls", "expect": "not_offered",
             "connect_timeout": NOT_OFFERED_CONNECT_TIMEOUT},
        ],
        "oauth_authority": "https://login.microsoftonline.us",
        "oauth_scope": "https://outlook-dod.office365.us/.default",
        "auth_mechanisms": ["login", "xoauth2"],
    },
    "m365_china": {
        "description": "Microsoft 365 operated by 21Vianet",
        "host": "smtp.partner.outlook.cn",
        "ports": [
            {"port": 587, "security": "starttls", "expect": "open"},
            {"port": 465, "security": "tls", "expect": "not_offered",
             "connect_timeout": NOT_OFFERED_CONNECT_TIMEOUT},
        ],
        "oauth_authority": "https://login.partner.microsoftonline.cn",
        "oauth_scope": "https://partner.outlook.cn/.default",
        "auth_mechanisms": ["login", "xoauth2"],
    },
    "m365_connector": {
        "description": "Microsoft 365 SMTP relay through a connector (no mailbox, no AUTH)",
        # The MX host of the tenant; {tenant} is the domain with dots turned
        # into dashes, e.g. contoso-com.mail.protection.outlook.com.
        "host": "{tenant}.mail.protection.outlook.com",
        "ports": [
            {"port": 25, "security": "starttls", "expect": "open"},
        ],
        "oauth_authority": None,
        "oauth_scope": None,
        "auth_mechanisms": [],
    },
    "custom": {
        "description": "Any SMTP submission endpoint; host is required",
        "host": None,
        "ports": [
            {"port": 587, "security": "starttls", "expect": "open"},
        ],
        "oauth_authority": None,
        "oauth_scope": None,
        "auth_mechanisms": ["login", "plain", "xoauth2"],
    },
}

PROFILE_NAMES = tuple(sorted(PROFILES))
OAUTH_PROFILES = tuple(sorted(n for n, p in PROFILES.items() if p["oauth_authority"]))


class ProfileError(ValueError):
    """A profile name or its parameters are not usable."""


def get_profile(name):
    """Return a private copy of the named profile, or raise ProfileError."""
    if name not in PROFILES:
        raise ProfileError(
            "unknown profile %r; choose one of: %s" % (name, ", ".join(PROFILE_NAMES)))
    return copy.deepcopy(PROFILES[name])


def connector_host(tenant_domain):
    """The MX host of a tenant's domain, as Exchange Online publishes it."""
    if not tenant_domain or any(c in tenant_domain for c in "\r\n\x00 /"):
        raise ProfileError("tenant domain %r is not a valid DNS name" % (tenant_domain,))
    return "%s.mail.protection.outlook.com" % tenant_domain.strip().lower().replace(".", "-")


def oauth_endpoint(profile_name, authority=None, scope=None):
    """Return (authority, scope) for OAuth 2.0 client credentials.

    An explicit authority or scope wins over the profile, so a lab or a
    private cloud can be used.
    """
    if authority and scope:
        return authority.rstrip("/"), scope
    prof = get_profile(profile_name)
    if not prof["oauth_authority"] and not authority:
        raise ProfileError(
            "profile %r has no OAuth authority; give oauth_authority and oauth_scope, "
            "or use one of: %s" % (profile_name, ", ".join(OAUTH_PROFILES)))
    return (authority or prof["oauth_authority"]).rstrip("/"), (scope or prof["oauth_scope"])
