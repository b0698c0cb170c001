# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reply texts of Microsoft 365 and Entra, in one place so the stand-ins stay consistent.

Texts follow ../shared/context/m365-facts.md. Errors end in brackets, as Exchange Online's do:
`[{where}]` is the front end's name, a UTC timestamp and a hex id
(`[BN9PR03CA0345.namprd03.prod.outlook.com 2026-12-06T23:40:00.123Z 08DE1A2B3C4D5E6F]`), so an
admin can find the session in Microsoft's logs; the store driver's replies say `[Hostname={host}]`.
"""

from __future__ import annotations

import datetime
import secrets

# Banner shape of public transcripts (e.g. the sasl-xoauth2 and go-mail issues):
# 220 BN9PR03CA0345.outlook.office365.com Microsoft ESMTP MAIL Service ready at <date> [<hex id>]
BANNER_IDENT = "Microsoft ESMTP MAIL Service ready at {date} [{id}]"
STARTTLS_READY = "220 2.0.0 SMTP server ready"
SENDER_OK = "250 2.1.0 Sender OK"
RECIPIENT_OK = "250 2.1.5 Recipient OK"
RESET_OK = "250 2.0.0 Resetting"
DATA_PROMPT = "354 Start mail input; end with <CRLF>.<CRLF>"
CLOSING = "221 2.0.0 Service closing transmission channel"
INVALID_DOMAIN = "501 5.5.4 Invalid domain name"
IDLE_TIMEOUT = "421 4.4.1 Connection timed out. Total session duration: {duration}"
# aiosmtpd's texts -> Exchange Online's.
AIOSMTPD_TEXTS = {
    "220 Ready to start TLS": STARTTLS_READY,
    "354 End data with <CR><LF>.<CR><LF>": DATA_PROMPT,
    "221 Bye": CLOSING,
}
UNRECOGNIZED = "500 5.3.3 Unrecognized command '{command}'"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_MECH_UNAVAILABLE = "504 5.7.4 Unrecognized authentication type [{where}]"
AUTH_BAD = "535 5.7.3 Authentication unsuccessful [{where}]"
AUTH_SMTP_DISABLED = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                      "for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. "
                      "[{where}]")
AUTH_BASIC_RETIRED = "550 5.7.30 Basic authentication is not supported for Client Submission. [{where}]"
NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail. [{where}]"
# The limit of 3 connections sending at once: the current text comes after the message body;
# the older one is what the fault concurrency_at_auth answers at AUTH.
CONCURRENT_LIMIT = ("432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending "
                    "for more information. [Hostname={host}]")
SENDER_THREAD_LIMIT = "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname={host}]"
SEND_AS_DENIED = ("554 5.2.252 SendAsDenied; {mailbox} not allowed to send as {sender}; "
                  "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
                  "Failed to process message due to a permanent exception with message "
                  "[BeginDiagnosticData]Cannot submit message. [Hostname={host}]")
SUBMISSION_QUOTA = ("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; "
                    "Failed to process message due to a permanent exception with message "
                    "[BeginDiagnosticData]Cannot submit message. [Hostname={host}]")
TLS_LEGACY = ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to "
              "support TLS 1.2. Visit https://aka.ms/smtp_auth_tls. [{where}]")
SERVICE_UNAVAILABLE = "421 4.3.2 Service not available, closing transmission channel"
THROTTLED = "451 4.7.500 Server busy. Please try again later from [{peer}]. (S77714) [{where}]"
# Microsoft Learn, "Fix email delivery issues for error code 5.7.708 in Exchange Online".
IP_REJECTED = "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. [{where}]"
RELAY_DENIED = "550 5.7.64 TenantAttribution; Relay Access Denied [{where}]"
QUEUED = "250 2.0.0 OK <{msgid}> [Hostname={host}]"
INTERNAL_ERROR = "451 4.3.0 Temporary server error. Please try again later [{where}]"

# Entra ID (AADSTS) errors: code -> (HTTP status, OAuth error, description template).
AADSTS = {
    90002: (400, "invalid_request",
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud. Check with your subscription administrator, this may "
            "happen if there are no active subscriptions for the tenant."),
    700016: (400, "unauthorized_client",
             "Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
             "This can happen if the application has not been installed by the administrator of the "
             "tenant or consented to by any user in the tenant. You may have sent your authentication "
             "request to the wrong tenant."),
    7000215: (401, "invalid_client",
              "Invalid client secret provided. Ensure the secret being sent in the request is the "
              "client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
    7000222: (401, "invalid_client",
              "The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
              "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider "
              "using certificate credentials for added security: https://aka.ms/certCreds."),
    7000218: (401, "invalid_client",
              "The request body must contain the following parameter: 'client_assertion' or "
              "'client_secret'."),
    900144: (400, "invalid_request",
             "The request body must contain the following parameter: '{parameter}'."),
    70003: (400, "unsupported_grant_type",
            "The app requested an unsupported grant type '{grant_type}'."),
    1002012: (400, "invalid_scope",
              "The provided value for scope {scope} is not valid. Client credential flows must have "
              "a scope value with /.default suffixed to the resource identifier (application ID URI)."),
}

# OpenBao/Vault-shaped bodies for the statuses the fault proxy injects.
VAULT_ERRORS = {
    412: "required index state not present",
    429: "request path \"{path}\": rate limit quota exceeded",
    500: "internal error",
    502: "error proxying request to the active node",
    503: "Vault is sealed",
}


def banner_date() -> str:
    # RFC 2822 as Exchange writes it: the day of the month without a leading zero.
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%a}, {now.day} {now:%b %Y %H:%M:%S} +0000"


def where(host: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{host} {now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z {session_hex_id()}"


def session_hex_id() -> str:
    return "08DE" + secrets.token_hex(6).upper()


def session_duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int(seconds % 1 * 1e7):07d}"


def entra_timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


# Microsoft Graph errors: code -> (HTTP status, message template). The body is Graph's
# {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}};
# the texts are those Graph returns for sendMail (Microsoft Graph docs, "Microsoft Graph error
# responses and resource types", and answers quoted in public issues of Graph mail clients).
GRAPH_ERRORS = {
    "InvalidAuthenticationToken": (401, "{detail}"),
    "ErrorAccessDenied": (403, "{detail}"),
    "ErrorSendAsDenied": (403, "The user account which was used to submit this request does not have the "
                               "right to send mail on behalf of the specified sending account., Cannot "
                               "submit message."),
    "ErrorInvalidUser": (404, "The requested user '{user}' is invalid."),
    "ErrorInvalidRecipients": (400, "At least one recipient isn't valid., {detail}"),
    "RequestBodyRead": (400, "{detail}"),
    "BadRequest": (400, "Resource not found for the segment '{segment}'."),
}
GRAPH_TOKEN_EMPTY = "Access token is empty."
GRAPH_TOKEN_MALFORMED = "IDX14100: JWT is not well formed, there are no dots (.)."
GRAPH_TOKEN_AUDIENCE = "Access token validation failure. Invalid audience."
GRAPH_TOKEN_INVALID = "Access token validation failure."
GRAPH_TOKEN_EXPIRED = "Lifetime validation failed, the token is expired."
GRAPH_ACCESS_DENIED = "Access is denied. Check credentials and try again."
# An application access policy (or RBAC for Applications) that keeps the app from this mailbox.
GRAPH_POLICY_DENIED = "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."
GRAPH_NO_RECIPIENTS = "A message can't be sent because it contains no recipients."
GRAPH_UNRESOLVED = "Recipient '{address}' isn't resolved. All recipients must be resolved before a message can be submitted."
GRAPH_EMPTY_PAYLOAD = "Empty Payload. JSON content expected."
GRAPH_INVALID_JSON = "Invalid JSON. {reason}"
GRAPH_UNKNOWN_PARAMETER = ("The parameter '{name}' in the request payload is not a valid parameter for the "
                           "operation 'sendMail'.")
GRAPH_UNKNOWN_PROPERTY = ("The property '{name}' does not exist on type '{type}'. Make sure to only use "
                          "property names that are defined by the type or mark the type as open type.")
GRAPH_NOT_A_BOOLEAN = "Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'."
GRAPH_BAD_ENUM = "Requested value '{value}' was not found."
GRAPH_WRONG_KIND = ("A node of type '{found}' was read from the JSON reader when trying to read the "
                    "{expected} of the property '{name}'; however, a '{wanted}' node was expected.")
