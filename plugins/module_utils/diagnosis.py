# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalogue of SMTP path faults, and the matching of replies and errors to it.

Codes are a stable vocabulary: reports and users filter on them. Each code has a
title, a cause, a fix and a reference, in the terms an Exchange administrator
uses. docs/troubleshooting.md is generated from CATALOGUE.

Replies are matched on the enhanced status code and the text, never on the
Python exception type: smtplib and ssl wrap the same fault in different types
across Python versions.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_MS_SUBMISSION = ("https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/"
                  "authenticated-client-smtp-submission")
_MS_DEVICE = ("https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
              "how-to-set-up-a-multifunction-device-or-application-to-send-email-using-microsoft-365-or-office-365")
_MS_OAUTH = ("https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/"
             "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth")
_MS_ENDPOINTS = "https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges"
_MS_LIMITS = ("https://learn.microsoft.com/en-us/office365/servicedescriptions/"
              "exchange-online-service-description/exchange-online-limits")
_MS_NDR = ("https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
           "non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online")
_MS_LEGACY_TLS = ("https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
                  "opt-in-exchange-online-endpoint-for-legacy-tls-using-smtp-auth")
_MS_RESTRICTED = "https://learn.microsoft.com/en-us/defender-office-365/outbound-spam-restore-restricted-users"
_MS_CONNECTORS = ("https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
                  "use-connectors-to-configure-mail-flow/set-up-connectors-to-route-mail")
_MS_SECURITY_DEFAULTS = "https://learn.microsoft.com/en-us/entra/fundamentals/security-defaults"
_MS_GRAPH_SENDMAIL = "https://learn.microsoft.com/en-us/graph/api/user-sendmail"
_MS_GRAPH_ERRORS = "https://learn.microsoft.com/en-us/graph/errors"
_MS_GRAPH_APP_RBAC = "https://learn.microsoft.com/en-us/exchange/permissions-exo/application-rbac"
_MS_ENTRA_ERRORS = "https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes"
_RFC3207 = "https://www.rfc-editor.org/rfc/rfc3207"
_RFC4954 = "https://www.rfc-editor.org/rfc/rfc4954"
_RFC5321 = "https://www.rfc-editor.org/rfc/rfc5321"
_RFC5280 = "https://www.rfc-editor.org/rfc/rfc5280"

# Ordered as an operator walks the path: the host's own files, network, TLS, authentication, sending.
CATALOGUE = {
    "local_file_unusable": {
        "title": "A file the probe needs cannot be used on the host",
        "cause": "`ca_path`, `client_cert` or `client_key` (in the roles `mailops_smtp_ca_path`) names a file that "
                 "does not exist on the host, cannot be read, or holds no usable certificate. The probe checks "
                 "its files before it connects, so no port was probed.",
        "fix": "Copy the file to the host (the path is on the target, not the controller) or correct the "
               "variable, then run the validation again. The message names the option and the file.",
        "reference": "https://docs.python.org/3/library/ssl.html#ssl.SSLContext.load_verify_locations",
    },
    "dns_failure": {
        "title": "The mail server name does not resolve",
        "cause": "The host's resolver cannot find an address for the endpoint (no DNS server, a split-horizon "
                 "zone without the record, a typo in the host name, or resolution slower than the timeout).",
        "fix": "Check /etc/resolv.conf and the name with `getent hosts <host>` on the target; for Microsoft 365 "
               "the name is smtp.office365.com (GCC High smtp.office365.us).",
        "reference": _MS_ENDPOINTS,
    },
    "tcp_refused": {
        "title": "The connection was refused",
        "cause": "Something on the path answered the connection with a reset: nothing listens on that port, "
                 "or a firewall or proxy rejects the connection actively.",
        "fix": "Allow outbound TCP to the endpoint's port (587 for Microsoft 365 client submission) on the host "
               "firewall and the perimeter; check that no local proxy intercepts SMTP.",
        "reference": _MS_ENDPOINTS,
    },
    "tcp_timeout": {
        "title": "The connection timed out: silently dropped",
        "cause": "No answer to the connection attempt: a firewall drops the traffic, or there is no route "
                 "to the endpoint. Many ISPs and cloud providers block outbound 25 and sometimes 587.",
        "fix": "Open outbound TCP 587 (and 443 for OAuth) to the Microsoft 365 endpoints in every firewall "
               "and security group on the way; check the host's routes.",
        "reference": _MS_ENDPOINTS,
    },
    "relay_unreachable": {
        "title": "The application's relay does not answer",
        "cause": "An application in `options.mode: via_relay` sends to a relay of our own (its `options.relay_host` "
                 "and `options.relay_port`, 127.0.0.1:25 by default), and nothing there took the connection or "
                 "greeted: Postfix is not running, the relay was never set up on that host, it listens on other "
                 "addresses (`smtp_relay_listen`), or a firewall drops the traffic. The application cannot send.",
        "fix": "Run the relay playbook (`ansible-playbook mailops.smtp.relay`) on the relay host (this host for a "
               "relay on 127.0.0.1), or start Postfix there (`postfix start`); for a designated relay check "
               "`smtp_relay_listen` and that the firewall lets this host reach the relay's port.",
        "reference": "https://www.postfix.org/postconf.5.html#inet_interfaces",
    },
    "port_not_offered": {
        "title": "The endpoint does not offer this port",
        "cause": "The port times out while the endpoint is expected not to serve it, or while another port on "
                 "the same address works. Microsoft 365 offers SMTP AUTH client submission on 587 with STARTTLS, "
                 "not on 465; a device that can only use 465 cannot use SMTP AUTH client submission.",
        "fix": "Nothing to fix on the network. Configure applications for port 587 with STARTTLS; for a device "
               "limited to 465, use a relay or the connector path instead.",
        "reference": _MS_DEVICE,
    },
    "banner_timeout": {
        "title": "The server never sent its greeting",
        "cause": "TCP connected but no 220 banner arrived: a tarpit, an overloaded server, a proxy that holds "
                 "the connection, or a plain-text connection to an implicit-TLS port.",
        "fix": "Use STARTTLS on 587 for Microsoft 365 (security: starttls); check for an SMTP proxy or "
               "inspection device between the host and the endpoint.",
        "reference": _RFC5321,
    },
    "starttls_missing": {
        "title": "STARTTLS is not offered, or is masked",
        "cause": "EHLO did not offer STARTTLS. When it shows as XXXXXXXA, a middlebox rewrites the EHLO reply: "
                 "Cisco ASA ESMTP inspection does exactly this. Microsoft 365 always offers STARTTLS on 587.",
        "fix": "Turn off ESMTP inspection (or its STARTTLS masking) on the firewall for traffic to the mail "
               "endpoint; never send credentials without TLS.",
        "reference": _RFC3207,
    },
    "tls_failed": {
        "title": "The TLS handshake failed",
        "cause": "The TLS negotiation broke off: the connection was reset during or after STARTTLS, no common "
                 "cipher, or a proxy interferes with TLS.",
        "fix": "Check that the host's OpenSSL supports TLS 1.2 with modern ciphers and that no proxy or "
               "inspection device breaks TLS to the endpoint; the detail holds the OpenSSL error.",
        "reference": _MS_DEVICE,
    },
    "tls_version_rejected": {
        "title": "The TLS version was rejected",
        "cause": "The server refuses the negotiated TLS version. Microsoft 365 answers TLS 1.0 and 1.1 clients "
                 "with `421 4.7.66 TLS 1.0 and 1.1 are not supported`.",
        "fix": "Use TLS 1.2 or newer (min_tls_version: \"1.2\"); update the client's OpenSSL. For devices that "
               "cannot, an administrator can opt in to the legacy endpoint smtp-legacy.office365.com "
               "(not in GCC High or DoD).",
        "reference": _MS_LEGACY_TLS,
    },
    "cert_untrusted": {
        "title": "The certificate does not chain to a trusted root",
        "cause": "The server's certificate is not signed by a CA the host trusts. For a public endpoint such as "
                 "smtp.office365.com this usually means TLS interception by a proxy.",
        "fix": "Find the intercepting proxy (the issuer in tls.cert names it) and exempt the mail endpoint; "
               "if the interception is intended, give its CA with ca_path (the roles read it from "
               "mailops_smtp_ca_path; the ca_path under mailops_smtp_vault is Vault's alone). "
               "Do not turn off validate_certs.",
        "reference": _RFC5280,
    },
    "cert_hostname_mismatch": {
        "title": "The certificate does not match the host name",
        "cause": "None of the certificate's names matches the host the probe connected to: a wrong host name "
                 "(an IP address or an alias), DNS pointing elsewhere, or an intercepting proxy.",
        "fix": "Connect by the name in the certificate (smtp.office365.com for Microsoft 365) and check what "
               "the name resolves to on this host.",
        "reference": _RFC5280,
    },
    "cert_expired": {
        "title": "The certificate has expired",
        "cause": "The server's certificate is past its notAfter date, or the host's clock is wrong.",
        "fix": "Check the host's clock (timedatectl); if it is right, the server's certificate must be renewed "
               "by its operator, or a proxy serves a stale one.",
        "reference": _RFC5280,
    },
    "cert_expiring": {
        "title": "The certificate expires in less than 30 days",
        "cause": "A warning on a working port: the certificate's notAfter date is close.",
        "fix": "Nothing to do for Microsoft 365 (it renews in time); for your own relay, renew the certificate "
               "before tls.cert.not_after.",
        "reference": _RFC5280,
    },
    "auth_not_offered": {
        "title": "The server offers no AUTH",
        "cause": "EHLO after TLS lists no AUTH mechanism: the endpoint is a relay that takes no mailbox "
                 "credentials (such as `<tenant>.mail.protection.outlook.com`), or AUTH was asked before TLS.",
        "fix": "For SMTP AUTH client submission use smtp.office365.com:587; for the connector path, use a "
               "connector by IP or certificate and drop auth.",
        "reference": _MS_DEVICE,
    },
    "auth_mechanism_unsupported": {
        "title": "The requested authentication mechanism is not offered",
        "cause": "The server does not offer the mechanism the probe would use. Microsoft 365 offers "
                 "`AUTH LOGIN XOAUTH2` after STARTTLS and no PLAIN, so a PLAIN-only client fails.",
        "fix": "Use mechanism: auto, login or xoauth2 against Microsoft 365; configure applications for LOGIN "
               "or, better, XOAUTH2.",
        "reference": _MS_OAUTH,
    },
    "auth_failed": {
        "title": "Authentication unsuccessful",
        "cause": "`535 5.7.3 Authentication unsuccessful` (Microsoft 365) or `535 5.7.8` (RFC 4954, Gmail and "
                 "others): a wrong password, MFA without an app password, SMTP AUTH off, Entra security "
                 "defaults, or an OAuth token with the wrong audience, no SMTP.SendAsApp permission, no service "
                 "principal in Exchange or no permission on the mailbox.",
        "fix": "Check the credential; enable SMTP AUTH for the mailbox "
               "(`Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false`); for XOAUTH2 "
               "request scope `https://outlook.office365.com/.default` and register the service principal with "
               "`New-ServicePrincipal` and `Add-MailboxPermission`.",
        "reference": _MS_OAUTH,
    },
    "auth_disabled": {
        "title": "SMTP AUTH is disabled for the tenant or the mailbox",
        "cause": "`535 5.7.139`: SmtpClientAuthentication is disabled for the tenant or the mailbox, or Entra "
                 "security defaults or an authentication policy block basic authentication.",
        "fix": "`Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false` (or "
               "`Set-TransportConfig -SmtpClientAuthenticationDisabled $false` for the organisation); if security "
               "defaults block it, move to XOAUTH2 or change the policy.",
        "reference": _MS_SUBMISSION,
    },
    "basic_auth_retired": {
        "title": "Basic authentication is not supported for client submission",
        "cause": "`550 5.7.30 Basic authentication is not supported for Client Submission`: basic auth for SMTP "
                 "AUTH is off for this tenant (disabled by default from the end of December 2026, unavailable for "
                 "new tenants).",
        "fix": "Move the application to XOAUTH2 (access_token), or to the connector path; an administrator can "
               "re-enable basic auth for an existing tenant until its final removal.",
        "reference": _MS_OAUTH,
    },
    "not_authenticated": {
        "title": "Client not authenticated to send mail",
        "cause": "`530 5.7.57 Client not authenticated to send mail`: MAIL FROM came before a successful AUTH, "
                 "or TLS was not negotiated first.",
        "fix": "Authenticate after STARTTLS before sending; check that the application has credentials "
               "configured and uses STARTTLS on 587.",
        "reference": _MS_DEVICE,
    },
    "send_as_denied": {
        "title": "The From address is not the mailbox (SendAsDenied)",
        "cause": "`5.7.60`, `554 5.2.0 ... SendAsDenied` or `554 5.2.252 SendAsDenied` (Microsoft Graph: "
                 "`403 ErrorSendAsDenied`): Microsoft 365 sends as the mailbox that logged in, and this From "
                 "needs SendAs rights.",
        "fix": "Send from the authenticated mailbox's address, or grant SendAs: "
               "`Add-RecipientPermission -Identity <from> -Trustee <mailbox> -AccessRights SendAs`.",
        "reference": _MS_NDR,
    },
    "relay_denied": {
        "title": "Relay access denied",
        "cause": "`550 5.7.64 TenantAttribution; Relay Access Denied`: the connector endpoint cannot attribute "
                 "the connection to a tenant: the source IP or the client certificate matches no inbound "
                 "connector.",
        "fix": "Create or fix the inbound connector (from your organisation's mail server) with this host's "
               "public IP, or present the certificate the connector expects (client_cert).",
        "reference": _MS_CONNECTORS,
    },
    "concurrency_limit": {
        "title": "Too many concurrent connections for the mailbox",
        "cause": "`432 4.3.2 Concurrent connections limit exceeded` (older: `... STOREDRV.ClientSubmit; sender "
                 "thread limit exceeded`), usually after the message body: Microsoft 365 allows at most 3 "
                 "connections of one mailbox sending at the same time.",
        "fix": "Throttle: fewer hosts at once per mailbox (serial or throttle in the play), keep "
               "auth_all_ports false, and retry later.",
        "reference": _MS_LIMITS,
    },
    "quota_exceeded": {
        "title": "A sending quota is used up",
        "cause": "`554 5.2.0 ... SubmissionQuotaExceededException` or a similar reply: the mailbox reached a "
                 "sending quota; in Microsoft 365 that is 10,000 recipients a day, after which sending stays "
                 "blocked for up to 24 hours (30 messages a minute is not refused, only delayed).",
        "fix": "Wait up to a day for the block to lift and spread the load over time or over mailboxes; bulk "
               "mail belongs on a service built for it.",
        "reference": _MS_LIMITS,
    },
    "restricted_sender": {
        "title": "The sender is on the restricted users list",
        "cause": "`550 5.1.8 Access denied, bad outbound sender`: the account sent what looked like spam and "
                 "was blocked from sending.",
        "fix": "Secure the account (reset the credential), then release it from Restricted entities in the "
               "Microsoft Defender portal.",
        "reference": _MS_RESTRICTED,
    },
    "temporary_failure": {
        "title": "A temporary failure",
        "cause": "A 4xx reply: the server is busy, throttles (`451 4.7.500-699` for a new sending pattern), or "
                 "closed the connection (`421`). The probe already retried with backoff.",
        "fix": "Retry later; if it persists, spread the load, and for direct send or relay use a connector.",
        "reference": _MS_NDR,
    },
    "ip_rejected": {
        "title": "Traffic from this IP is not accepted",
        "cause": "`550 5.7.708 Access denied, traffic not accepted from this IP` or a related 5.7.6xx/5.7.7xx "
                 "code: a low-reputation IP, a banned sending IP, or a trial tenant.",
        "fix": "Send from an IP with a good reputation (a business line, not a dynamic range); otherwise open a "
               "case with Microsoft support.",
        "reference": _MS_NDR,
    },
    # Microsoft Graph sendMail (GitLab's Graph mailer): Graph's error code is in the text.
    "token_request_failed": {
        "title": "The token endpoint refused the app or could not be reached",
        "cause": "The client-credentials token request failed before any mail was sent: an AADSTS error "
                 "(`AADSTS7000215` invalid client secret, `AADSTS7000222` expired secret, `AADSTS700016` app not "
                 "found in the tenant, `AADSTS90002` tenant not found) or no answer from the authority. The "
                 "message holds Entra's words.",
        "fix": "Follow the AADSTS message: store the secret's Value (not its ID) in Vault, create a new secret when "
               "it expired, check client_id and tenant_id; for no answer, check the path to "
               "login.microsoftonline.com on port 443 and any HTTPS proxy.",
        "reference": _MS_ENTRA_ERRORS,
    },
    "graph_token_invalid": {
        "title": "Microsoft Graph refused the access token (InvalidAuthenticationToken)",
        "cause": "`401 InvalidAuthenticationToken`: the token is empty, not a JWT, for another audience "
                 "(`Access token validation failure. Invalid audience.`: requested for "
                 "https://outlook.office365.com instead of Graph), expired or signed by another authority.",
        "fix": "Request the token with scope `https://graph.microsoft.com/.default` (GCC High: "
               "`https://graph.microsoft.us/.default`) from the tenant of the app, and use it before it expires.",
        "reference": _MS_GRAPH_ERRORS,
    },
    "graph_access_denied": {
        "title": "Microsoft Graph denied the app access to the mailbox (ErrorAccessDenied)",
        "cause": "`403 ErrorAccessDenied`: `Access is denied. Check credentials and try again.` when the app "
                 "registration lacks the Mail.Send application permission or its admin consent; `Access to "
                 "OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.` when an "
                 "application access policy (or RBAC for Applications) keeps the app from this mailbox.",
        "fix": "Grant the Mail.Send application permission (Microsoft Graph, not SMTP.SendAsApp) and admin "
               "consent in the app registration; if the tenant scopes apps to mailboxes, add the mailbox to the "
               "app's policy group (`New-ApplicationAccessPolicy` or `New-ManagementRoleAssignment`).",
        "reference": _MS_GRAPH_APP_RBAC,
    },
    "graph_invalid_user": {
        "title": "Microsoft Graph does not know the sending mailbox (ErrorInvalidUser)",
        "cause": "`404 ErrorInvalidUser`: `The requested user '<id>' is invalid.`: the user id in "
                 "/users/{id}/sendMail (GitLab's `microsoft_graph_mailer_user_id`) is no mailbox of the "
                 "token's tenant, or the mailbox has no Exchange Online licence.",
        "fix": "Set the user id to the sending mailbox's address or object id in the app's own tenant, and check "
               "that the mailbox exists in Exchange Online.",
        "reference": _MS_GRAPH_SENDMAIL,
    },
    "graph_invalid_recipients": {
        "title": "Microsoft Graph refused the recipients (ErrorInvalidRecipients)",
        "cause": "`400 ErrorInvalidRecipients`: `At least one recipient isn't valid.`: the message has no "
                 "recipient, or an address that does not resolve.",
        "fix": "Give the proof a valid recipient address (the `to` of the proof).",
        "reference": _MS_GRAPH_SENDMAIL,
    },
    "graph_bad_request": {
        "title": "Microsoft Graph could not read the request (RequestBodyRead)",
        "cause": "`400 RequestBodyRead` or `BadRequest`: the JSON body or the URL is not what sendMail takes, "
                 "for example a graph endpoint that is not Graph's root.",
        "fix": "Check the graph endpoint (GitLab's `microsoft_graph_mailer_graph_endpoint`, "
               "https://graph.microsoft.com by default); otherwise report the message Graph gave.",
        "reference": _MS_GRAPH_SENDMAIL,
    },
    "unknown": {
        "title": "An unexpected reply or error",
        "cause": "The reply or error matches nothing in the catalogue; the raw reply is kept in the stage's "
                 "detail.",
        "fix": "Read the detail of the failed stage; look the enhanced status code up in the Exchange Online "
               "NDR reference.",
        "reference": _MS_NDR,
    },
}

CODES = tuple(CATALOGUE)

# The fleet report's own verdicts, for a host with no probe result to judge, and for the
# credential the validation could not get. Rendered in docs/troubleshooting.md with the rest.
REPORT_CATALOGUE = {
    "host_unreachable": {
        "title": "The host could not be reached to run the check",
        "cause": "Ansible, which runs the check, could not connect to or log in on the host, so nothing was "
                 "checked from it.",
        "fix": "Check that the host is up and that Ansible can log in (`ansible <host> -m ansible.builtin.ping`), "
               "then run the validation again.",
        "reference": "https://docs.ansible.com/ansible/latest/inventory_guide/connection_details.html",
    },
    "probe_failed": {
        "title": "The check could not run on the host",
        "cause": "The probe module failed before it could test the mail path: an option it refused, a module "
                 "error, or no usable Python on the host. The record's message is the module's own.",
        "fix": "Read the message in this record, correct the input or the host, and run the validation again.",
        "reference": "https://docs.ansible.com/ansible/latest/reference_appendices/python_3_support.html",
    },
    "probe_missing": {
        "title": "No result for the host",
        "cause": "The play did not run the probe on this host (skipped, or the host left the play early).",
        "fix": "Run the validation again for this host; check the play's host pattern, conditions and tags.",
        "reference": "https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_conditionals.html",
    },
    "credential_unavailable": {
        "title": "The SMTP credential could not be fetched, so no login was checked",
        "cause": "mailops.smtp.vault_credentials failed (Vault unreachable, a refused login, a missing path or "
                 "field, or a token request the authority refused). The connectivity checks still ran; the "
                 "login could not, so the run fails. The report's `credential.diagnosis` holds Vault's message.",
        "fix": "Follow the message: check `mailops_smtp_vault` (url, path, auth) and the Vault policy, then run "
               "the validation again. `--skip-tags credential` checks the network path alone.",
        "reference": "https://openbao.org/docs/commands/",
    },
}
REPORT_CODES = tuple(REPORT_CATALOGUE)

# Codes that describe a problem but do not make a port fail.
WARNING_CODES = ("cert_expiring",)
INFORMATIONAL_CODES = ("port_not_offered",)


def diagnosis(code):
    """The catalogue entry for code, as the public dict {code, title, cause, fix, reference}."""
    entry = CATALOGUE.get(code) or CATALOGUE["unknown"]
    if code not in CATALOGUE:
        code = "unknown"
    return {
        "code": code,
        "title": entry["title"],
        "cause": entry["cause"],
        "fix": entry["fix"],
        "reference": entry["reference"],
    }


_ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC_RE = re.compile(r"^\s*(\d{3})[ -]?")


def parse_reply(text):
    """Split an SMTP reply into (basic code or None, enhanced code tuple or None).

    The enhanced code is searched anywhere in the text because servers and
    libraries put it at different places (after the code, after `#`, in an
    exception's message).
    """
    text = text or ""
    basic = None
    m = _BASIC_RE.match(text)
    if m:
        basic = int(m.group(1))
    else:
        m = re.search(r"\b([2-5]\d\d)\b", text)
        if m:
            basic = int(m.group(1))
    enhanced = None
    m = _ENHANCED_RE.search(text)
    if m:
        enhanced = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return basic, enhanced


def _contains(text, *needles):
    low = text.lower()
    return any(n.lower() in low for n in needles)


def match_reply(code, text=""):
    """The diagnosis code for an SMTP reply (basic code and text).

    code may be None when only text is known (an exception's message). Returns
    None for a positive reply (2xx or 3xx) that matches no fault.
    """
    text = text or ""
    full = ("%s %s" % (code, text)) if code else text
    basic, enh = parse_reply(full)
    if code:
        basic = int(code)
    cls = enh[0] if enh else None
    subj = enh[1] if enh else None
    det = enh[2] if enh else None

    # Specific Microsoft replies first: several share a basic code.
    if enh == (4, 7, 66) or _contains(text, "TLS 1.0 and 1.1 are not supported"):
        return "tls_version_rejected"
    if enh == (5, 7, 139) or _contains(text, "SmtpClientAuthentication is disabled"):
        return "auth_disabled"
    if enh == (5, 7, 30) or _contains(text, "Basic authentication is not supported"):
        return "basic_auth_retired"
    if _contains(text, "SendAsDenied", "send as this sender") or enh in ((5, 7, 60), (5, 2, 252)):
        return "send_as_denied"
    if _contains(text, "SubmissionQuotaExceeded", "quota exceeded", "sending quota", "sending limit"):
        return "quota_exceeded"
    if enh == (4, 3, 2) and (basic == 432 or _contains(text, "thread limit", "concurren")):
        return "concurrency_limit"
    if basic == 432 or _contains(text, "sender thread limit"):
        return "concurrency_limit"
    if enh == (5, 7, 64) or _contains(text, "Relay Access Denied", "Relaying denied", "relay not permitted"):
        return "relay_denied"
    if enh == (5, 1, 8) or _contains(text, "bad outbound sender"):
        return "restricted_sender"
    if enh and cls == 5 and subj == 7 and (606 <= det <= 649 or 700 <= det <= 750):
        return "ip_rejected"
    if _contains(text, "traffic not accepted from this IP", "banned sending IP"):
        return "ip_rejected"
    if enh == (5, 7, 57) or _contains(text, "Client not authenticated"):
        return "not_authenticated"
    if basic == 530 and _contains(text, "authenticat"):
        return "not_authenticated"
    if basic == 504 or enh in ((5, 5, 4), (5, 7, 4)) or _contains(text, "Unrecognized authentication type"):
        return "auth_mechanism_unsupported"
    if enh in ((5, 7, 3), (5, 7, 8)) or basic in (534, 535):
        return "auth_failed"
    if basic is not None and 200 <= basic < 400:
        return None
    if basic is not None and 400 <= basic < 500:
        return "temporary_failure"
    if basic is None and cls == 4:
        return "temporary_failure"
    return "unknown"


# Microsoft Graph's error codes (the `error.code` of its JSON body) -> the catalogue's codes.
_GRAPH_CODES = {
    "InvalidAuthenticationToken": "graph_token_invalid",
    "ErrorAccessDenied": "graph_access_denied",
    "ErrorSendAsDenied": "send_as_denied",
    "ErrorInvalidUser": "graph_invalid_user",
    "ErrorInvalidRecipients": "graph_invalid_recipients",
    "RequestBodyRead": "graph_bad_request",
    "BadRequest": "graph_bad_request",
}


def match_graph_error(status, code=None):
    """The diagnosis code for a Microsoft Graph error answer (HTTP status and Graph's error code)."""
    if code in _GRAPH_CODES:
        return _GRAPH_CODES[code]
    if status == 401:
        return "graph_token_invalid"
    if status == 403:
        return "graph_access_denied"
    if status == 404:
        return "graph_invalid_user"
    if status == 429 or (status is not None and 500 <= status < 600):
        return "temporary_failure"
    if status == 400:
        return "graph_bad_request"
    return "unknown"


# OpenSSL verify codes (X509_V_ERR_*) worth telling apart.
_VERIFY_EXPIRED = (10,)
_VERIFY_NOT_YET_VALID = (9,)
_VERIFY_HOSTNAME = (62, 64)  # hostname mismatch, IP address mismatch
_VERIFY_UNTRUSTED = (2, 18, 19, 20, 21, 27)


def match_cert_error(verify_code, message=""):
    """The diagnosis code for a certificate verification failure."""
    message = message or ""
    if verify_code in _VERIFY_EXPIRED or _contains(message, "certificate has expired"):
        return "cert_expired"
    if verify_code in _VERIFY_HOSTNAME or _contains(message, "hostname mismatch", "IP address mismatch",
                                                    "doesn't match"):
        return "cert_hostname_mismatch"
    if verify_code in _VERIFY_NOT_YET_VALID:
        return "cert_expired"
    return "cert_untrusted"


def match_error(stage, text, errno_=None):
    """The diagnosis code for a local error (socket, ssl) met during a stage.

    stage is the stage name; text the error's message. The text decides, with
    the stage as context: a timeout while connecting is a firewall, a timeout
    waiting for the banner is a tarpit.
    """
    text = text or ""
    if stage == "dns":
        return "dns_failure"
    if _contains(text, "certificate verify failed"):
        return match_cert_error(None, text)
    if _contains(text, "timed out", "timeout"):
        if stage == "connect":
            return "tcp_timeout"
        if stage == "banner":
            return "banner_timeout"
        if stage in ("starttls", "tls"):
            return "tls_failed"
        return "temporary_failure"
    if _contains(text, "refused") or errno_ == 111:
        return "tcp_refused" if stage == "connect" else "temporary_failure"
    if stage == "connect" and _contains(text, "unreachable", "no route"):
        return "tcp_timeout"
    if stage in ("starttls", "tls"):
        if _contains(text, "unsupported protocol", "protocol version", "no protocols available",
                     "version too low", "wrong version number"):
            return "tls_version_rejected"
        return "tls_failed"
    reply_code = match_reply(None, text)
    if reply_code not in (None, "unknown"):
        return reply_code
    if _contains(text, "reset", "closed", "broken pipe", "eof", "aborted"):
        return "temporary_failure"
    return "unknown"


def is_transient_reply(code, text=""):
    """True when a reply is worth retrying: 421, 432, 451, except TLS version rejections."""
    if code is None:
        return False
    if match_reply(code, text) == "tls_version_rejected":
        return False
    return int(code) in (421, 432, 451)


def is_transient_error(text):
    """True for a connection reset or an unexpected close; never for a silent drop (timeout)."""
    text = text or ""
    if _contains(text, "timed out", "timeout"):
        return False
    return _contains(text, "reset", "connection aborted", "broken pipe", "unexpectedly closed",
                     "eof occurred", "unexpected eof", "closed the connection")
