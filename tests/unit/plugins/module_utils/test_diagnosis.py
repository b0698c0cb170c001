# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The diagnosis catalogue and the matching of SMTP replies and errors to its codes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import diagnosis as d

REPO = Path(__file__).resolve().parents[4]

# The vocabulary of issue 4; reports filter on these names, so none may vanish.
ISSUE_CODES = [
    "dns_failure", "tcp_refused", "tcp_timeout", "port_not_offered", "banner_timeout", "starttls_missing",
    "tls_failed", "tls_version_rejected", "cert_untrusted", "cert_hostname_mismatch", "cert_expired",
    "auth_not_offered", "auth_mechanism_unsupported", "auth_failed", "auth_disabled", "basic_auth_retired",
    "not_authenticated", "send_as_denied", "relay_denied", "concurrency_limit", "quota_exceeded",
    "restricted_sender", "temporary_failure", "ip_rejected", "unknown",
]


def test_catalogue_holds_the_issue_vocabulary():
    assert set(ISSUE_CODES) <= set(d.CODES)
    # The additions: a warning, not a failure, and a file on the host the probe cannot use (issue 17);
    # the token request and Microsoft Graph's sendMail refusals (issue 21, GitLab's Graph mailer).
    assert set(d.CODES) - set(ISSUE_CODES) == {
        "cert_expiring", "local_file_unusable", "relay_unreachable", "token_request_failed",
        "graph_token_invalid", "graph_access_denied", "graph_invalid_user", "graph_invalid_recipients",
        "graph_bad_request"}
    assert d.WARNING_CODES == ("cert_expiring",)


@pytest.mark.parametrize("code", list(d.CATALOGUE))
def test_every_code_has_title_cause_fix_reference(code):
    entry = d.diagnosis(code)
    assert entry["code"] == code
    assert set(entry) == {"code", "title", "cause", "fix", "reference"}
    for key in ("title", "cause", "fix"):
        assert len(entry[key]) > 15, (code, key)
    assert entry["reference"].startswith("https://"), code


def test_unknown_code_falls_back_to_unknown():
    assert d.diagnosis("no_such_code")["code"] == "unknown"


# Every reply of m365-facts.md and of issue 4, and what it must mean.
REPLIES = [
    (535, "5.7.3 Authentication unsuccessful [BN0PR04CA0001.namprd04.prod.outlook.com]", "auth_failed"),
    (535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
          "Visit https://aka.ms/smtp_auth_disabled for more information.", "auth_disabled"),
    (535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
     "auth_disabled"),
    (535, "5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
          "successfully. Contact your administrator. (security defaults policy)", "auth_disabled"),
    (535, "5.7.139 Authentication unsuccessful, basic authentication is disabled.", "auth_disabled"),
    (550, "5.7.30 Basic authentication is not supported for Client Submission.", "basic_auth_retired"),
    (530, "5.7.57 Client not authenticated to send mail. Error: 535 5.7.139", "not_authenticated"),
    (530, "5.7.57 Client not authenticated to send mail [AM0PR02CA0001.eurprd02.prod.outlook.com]",
     "not_authenticated"),
    (550, "5.7.60 SMTP; Client does not have permissions to send as this sender", "send_as_denied"),
    (554, "5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
          "Failed to process message due to a permanent exception", "send_as_denied"),
    (554, "5.2.252 SendAsDenied; svc-mailer@contoso.com not allowed to send as boss@contoso.com", "send_as_denied"),
    (421, "4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.",
     "tls_version_rejected"),
    (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "concurrency_limit"),
    (432, "4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more "
          "information. [Hostname=BN9PR03CA0345.namprd03.prod.outlook.com]", "concurrency_limit"),
    (554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message",
     "quota_exceeded"),
    (550, "5.1.8 Access denied, bad outbound sender", "restricted_sender"),
    (451, "4.7.500 Server busy. Please try again later from [192.0.2.10]. (AS761)", "temporary_failure"),
    (451, "4.7.650 The mail server [192.0.2.10] has been temporarily rate limited", "temporary_failure"),
    (550, "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", "ip_rejected"),
    (550, "5.7.606 Access denied, banned sending IP [192.0.2.10]", "ip_rejected"),
    (550, "5.7.750 Service unavailable. Client blocked from sending from unregistered domains", "ip_rejected"),
    (535, "5.7.8 Username and Password not accepted. For more information, go to support.google.com",
     "auth_failed"),
    (535, "5.7.8 Error: authentication failed: authentication failure", "auth_failed"),
    (550, "5.7.64 TenantAttribution; Relay Access Denied [SN1NAM02FT0001.eop-nam02.prod.protection.outlook.com]",
     "relay_denied"),
    (504, "5.7.4 Unrecognized authentication type [AM0PR02CA0001.eurprd02.prod.outlook.com]",
     "auth_mechanism_unsupported"),
    (421, "4.3.2 Service not available", "temporary_failure"),
    (450, "4.2.1 Mailbox temporarily unavailable", "temporary_failure"),
    (550, "5.1.1 RESOLVER.ADR.RecipNotFound; not found", "unknown"),
    (235, "2.7.0 Authentication successful", None),
]


@pytest.mark.parametrize("code,text,expected", REPLIES)
def test_reply_matching(code, text, expected):
    assert d.match_reply(code, text) == expected


@pytest.mark.parametrize("code,text,expected", [r for r in REPLIES if r[0] >= 400])
def test_reply_matching_from_text_only(code, text, expected):
    # An exception's message carries the reply as text ("(535, b'5.7.3 ...')" in smtplib).
    assert d.match_reply(None, "(%d, b'%s')" % (code, text)) == expected


def test_enhanced_code_is_not_confused_with_longer_codes():
    # 5.7.60 (SendAs) must not swallow 5.7.606 (banned IP), nor 5.7.3 swallow 5.7.30.
    assert d.parse_reply("550 5.7.606 Access denied")[1] == (5, 7, 606)
    assert d.match_reply(550, "5.7.30 Basic authentication is not supported for Client Submission") == \
        "basic_auth_retired"
    assert d.parse_reply("535 5.7.3 Authentication unsuccessful") == (535, (5, 7, 3))


@pytest.mark.parametrize("stage,text,expected", [
    ("dns", "[Errno -2] Name or service not known", "dns_failure"),
    ("dns", "name resolution of smtp.office365.com timed out after 10.0 s", "dns_failure"),
    ("connect", "[Errno 111] Connection refused", "tcp_refused"),
    ("connect", "timed out", "tcp_timeout"),
    ("connect", "[Errno 113] No route to host", "tcp_timeout"),
    ("banner", "timed out waiting for the server's reply", "banner_timeout"),
    # smtplib's view of a tarpit.
    ("banner", "Connection unexpectedly closed: timed out", "banner_timeout"),
    ("tls", "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol (_ssl.c:1000)", "tls_version_rejected"),
    ("tls", "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1000)",
     "tls_version_rejected"),
    ("tls", "[Errno 104] Connection reset by peer", "tls_failed"),
    ("tls", "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol", "tls_failed"),
    ("tls", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
     "cert_expired"),
    ("tls", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not "
            "valid for 'smtp.office365.com'", "cert_hostname_mismatch"),
    ("tls", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
     "cert_untrusted"),
    ("ehlo", "the server closed the connection", "temporary_failure"),
    ("auth", "something odd", "unknown"),
])
def test_error_matching(stage, text, expected):
    assert d.match_error(stage, text) == expected


@pytest.mark.parametrize("verify_code,message,expected", [
    (10, "certificate has expired", "cert_expired"),
    (62, "Hostname mismatch, certificate is not valid for 'x'", "cert_hostname_mismatch"),
    (64, "IP address mismatch", "cert_hostname_mismatch"),
    (20, "unable to get local issuer certificate", "cert_untrusted"),
    (19, "self-signed certificate in certificate chain", "cert_untrusted"),
    (18, "self-signed certificate", "cert_untrusted"),
])
def test_cert_error_matching(verify_code, message, expected):
    assert d.match_cert_error(verify_code, message) == expected


@pytest.mark.parametrize("code,text,transient", [
    (421, "4.3.2 Service not available", True),
    (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", True),
    (432, "4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending", True),
    (451, "4.7.500 Server busy", True),
    (421, "4.7.66 TLS 1.0 and 1.1 are not supported", False),
    (535, "5.7.3 Authentication unsuccessful", False),
    (450, "4.2.1 Mailbox busy", False),
])
def test_transient_replies(code, text, transient):
    assert d.is_transient_reply(code, text) is transient


@pytest.mark.parametrize("text,transient", [
    ("[Errno 104] Connection reset by peer", True),
    ("the server closed the connection", True),
    ("EOF occurred in violation of protocol", True),
    ("timed out", False),
    ("Connection unexpectedly closed: timed out", False),
    ("[Errno 111] Connection refused", False),
])
def test_transient_errors(text, transient):
    assert d.is_transient_error(text) is transient


def test_troubleshooting_doc_is_generated_from_the_catalogue():
    spec = importlib.util.spec_from_file_location("gen_troubleshooting", REPO / "tests" / "tools" /
                                                  "gen_troubleshooting.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    committed = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    assert committed == gen.render(d), "run: python tests/tools/gen_troubleshooting.py"
    for code in d.CODES:
        assert "\n## %s\n" % code in committed


@pytest.mark.parametrize("status, code, expected", [
    (401, "InvalidAuthenticationToken", "graph_token_invalid"),
    (403, "ErrorAccessDenied", "graph_access_denied"),
    (403, "ErrorSendAsDenied", "send_as_denied"),
    (404, "ErrorInvalidUser", "graph_invalid_user"),
    (400, "ErrorInvalidRecipients", "graph_invalid_recipients"),
    (400, "RequestBodyRead", "graph_bad_request"),
    (401, None, "graph_token_invalid"),
    (429, "ApplicationThrottled", "temporary_failure"),
    (503, None, "temporary_failure"),
    (418, None, "unknown"),
])
def test_graph_errors_map_to_codes(status, code, expected):
    assert d.match_graph_error(status, code) == expected
