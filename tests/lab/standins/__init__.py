# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for Microsoft 365 SMTP, the connector endpoint, Entra ID, and Vault faults.

The lab runs ONE process, from the repository root:

    python -m tests.lab.standins.server --config <state_dir>/standins.json [--fault T:NAME[:k=v]]

and waits until `StandinControl(<control_socket>).wait_ready()` returns.

Config (one JSON file)
----------------------
    {
      "control_socket": "/abs/.lab/standins.sock",
      "store_dir": "/abs/.lab/standins",        received mail as JSON, bad certs (pki-bad/)
      "ca": "/abs/.lab/pki/mailops-lab-CA.pem",  trusted for connector client certs
      "ca_key": "/abs/.lab/pki/mailops-lab-CA.key",  optional; needed for bad_cert faults
      "smtp": {"address": "198.18.x.2", "ports": {"587": "starttls", "25": "starttls", "465": "drop"},
               "cert": "...", "key": "...", "hostname": "smtp.office365.com",
               "server_name": "LAB0PR00CA0001.outlook.office365.com",  optional (banner/EHLO)
               "concurrency_limit": 3,                                  optional; null = off
               "minute_seconds": 60, "idle_timeout": 300, "tls_max": "1.2"},  optional
      "connector": {"address": "198.18.x.5", "port": 25, "cert": "...", "key": "...",
                    "hostname": "contoso-com.mail.protection.outlook.com",
                    "allowed_sources": ["198.18.x.10"]},               optional section
      "entra": {"address": "198.18.x.3", "port": 443, "cert": "...", "key": "...",
                "hostname": "login.microsoftonline.com", "token_lifetime": 3599},  optional
      "graph": {"address": "198.18.x.6", "port": 443, "cert": "...", "key": "...",
                "hostname": "graph.microsoft.com"},                       optional (graph.py)
      "vault_proxy": {"address": "198.18.x.4", "port": 8300,
                      "upstream": "http://198.18.x.4:8200", "upstream_timeout": 30},  optional
      "tenants": {"contoso.com": "11111111-2222-3333-4444-555555555555"},
      "mailboxes": {"svc-mailer@contoso.com": {"passwords": ["..."], "smtp_auth_disabled": false,
                    "basic_auth_retired": false, "send_as": [],
                    "messages_per_minute": 30, "recipients_per_day": 10000}},   limits optional
      "apps": {"<client_id>": {"tenant": "<tenant id or domain>", "secrets": ["..."],
               "expired_secrets": [], "mailboxes": ["svc-mailer@contoso.com"],
               "send_as_app": true, "mail_send": true}}
    }
The file holds passwords and secrets: the lab should write it with mode 0600.

Port modes (smtp.ports, and `set_port_mode` at run time)
--------------------------------------------------------
starttls (587 style), tls (implicit TLS), closed (nothing listens: RST, connection refused),
drop (SYN never answered: connect TIMEOUT, as Microsoft 365's 465). `drop` needs no firewall:
see `drop.py`. For labs that prefer nftables, `drop.drop_rules(config)` returns nft argv lists
to run in the controller namespace (and `drop_rules_delete()` to undo them before a run-time
switch of that port to another mode).

Behaviour
---------
smtp (role "smtp"): Microsoft banner; before TLS EHLO offers STARTTLS and no AUTH, AUTH gets
504 5.7.4; TLS 1.2+ only; after TLS `AUTH LOGIN XOAUTH2` (no PLAIN). LOGIN: bad credential
535 5.7.3; basic_auth_retired 550 5.7.30 (whatever the password); smtp_auth_disabled 535 5.7.139
(right password, LOGIN or XOAUTH2). XOAUTH2: `user=<mailbox>\\x01auth=Bearer <token>\\x01\\x01`
(lines up to 16 KB) with an Entra stand-in JWT (jwt_tokens.py) whose signature, audience
https://outlook.office365.com, role SMTP.SendAsApp and expiry hold, of an app that lists the
mailbox; else 535 5.7.3. MAIL/RCPT/DATA before AUTH: 530 5.7.57. SendAs: envelope or header From
other than the mailbox (or its send_as list) gets 554 5.2.252 at the end of DATA. Concurrency: a
session *sends* from its accepted MAIL FROM until the reply to its body; a mailbox's 4th sending
session gets 432 4.3.2 Concurrent connections limit exceeded at the end of DATA (limit
switchable, None = off; fault concurrency_at_auth refuses the 4th AUTH instead). Rate: beyond
messages_per_minute (30) messages are accepted and recorded as delayed with their delivery
minute; beyond recipients_per_day (10,000) 554 5.2.0 ...SubmissionQuotaExceededException, and
the mailbox is blocked for a day (scaled clock: set_clock(minute_seconds)). EHLO offers DSN,
BINARYMIME, CHUNKING and SMTPUTF8, and BDAT works. Several passwords can be valid at once.
docs/lab.md ("Fidelity") lists each behaviour with its public source.

connector: STARTTLS offered, no AUTH; MAIL FROM accepted, RCPT TO relays when the peer address
is in allowed_sources or the client presented a certificate chaining to "ca" (a certificate from
another CA fails the handshake); else 550 5.7.64 TenantAttribution; Relay Access Denied.

graph: Microsoft Graph's sendMail (POST /v1.0/users/{mailbox}/sendMail, 202 Accepted), with Graph's
error bodies; messages go to the same store with auth_mechanism "graph" (see graph.py).

Faults (`set_fault(name, target=...)`; target "smtp" default, "connector", "entra" or "graph"):
  tarpit(seconds<=55)        TCP accepted, no banner
  banner_421                 421 4.3.2 at the banner, then close
  throttle(stage=banner|mail|rcpt)  451 4.7.500 Server busy (default stage mail)
  reset_after_starttls       220 to STARTTLS, then a TCP RST
  legacy_tls                 TLS 1.0/1.1 accepted (SECLEVEL=0 in this mode only) and answered
                             421 4.7.66 on the first command; STARTTLS ports only
  bad_cert(kind=expired|wrong_name|untrusted)  also for implicit TLS and entra
  starttls_stripped          EHLO without STARTTLS; STARTTLS -> 500 5.3.3
  starttls_masked            EHLO shows XXXXXXXA; STARTTLS -> 500 5.3.3 'XXXXXXXX'
  concurrency_at_auth        the AUTH that would make a 4th concurrent session gets 432 4.3.2
  entra: down (port closed: refused), 500, invalid_json
  graph: down (port closed: refused), bad_cert(kind=...)
Vault proxy faults (`add_vault_fault(status=412|429|5xx or delay=s, times=N, path_prefix=)`).

Inspection: `messages()` -> [{listener, envelope_from, rcpt_tos, headers [[k, v]], data,
auth_identity, auth_mechanism (LOGIN, XOAUTH2, ip, certificate, graph), auth_app (XOAUTH2 and graph: the
client id of the app registration the token was issued to), peer, tls_version, delayed,
delivery {submitted_minute, delivery_minute, delayed, delay_seconds}, smtputf8, ext_params, ...}], also
written to <store_dir>/messages/*.json. `counters()` -> {"mailboxes": {addr: {auth_ok,
auth_fail, auth_rejected_concurrency, connections, current, peak_concurrent, sending,
peak_sending, send_rejected_concurrency, messages, messages_delayed, messages_refused_quota}}, "ports":
{"smtp:587": connections, "connector:25": ...}, "entra": {...}, "vault_proxy": {...}, ...}.

The sealed Vault for the sealed case: `sealed_vault.start_sealed_vault(address, port)`.
"""
