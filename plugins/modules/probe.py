#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: probe
short_description: Check that a host can submit mail to an SMTP endpoint, and say why not
version_added: "0.1.0"
description:
  - Walks each port of the endpoint through DNS, TCP, the banner, EHLO, STARTTLS or implicit TLS, and optionally
    AUTH and a test message, from the target host, and reports every stage with its time.
  - On failure, returns a diagnosis from a stable vocabulary (for example C(tcp_timeout), C(starttls_missing),
    C(auth_failed), C(auth_disabled)) with a cause, a fix and a reference in Exchange Online terms. The catalogue
    is rendered in C(docs/troubleshooting.md).
  - All ports are probed at once. Certificates are verified by default, and credentials are only ever sent over TLS.
  - The task fails when the requirement (O(require)) is not met; the full result is returned either way.
  - Uses only the Python standard library on the target.
  - O(ca_path), O(client_cert) and O(client_key) are checked before any connection; a file the host cannot read
    fails the task with the diagnosis C(local_file_unusable), naming the file.
author:
  - mailops.smtp maintainers (@mailops)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
  - mailops.smtp.attributes.action_group_smtp
attributes:
  action:
    description: An action plugin on the controller paces O(send) (O(send_per_minute)); the probe runs on the host.
    support: full
  check_mode:
    support: full
    details: Everything runs except O(send), which is skipped.
  diff_mode:
    support: none
options:
  profile:
    description:
      - The endpoint profile, which gives the default host, the ports and what each port is expected to do.
      - V(m365_connector) has no default host; give O(host) as C(<tenant>.mail.protection.outlook.com).
    type: str
    default: m365
    choices: [m365, m365_gcc_high, m365_dod, m365_china, m365_connector, custom]
  host:
    description: The SMTP server. Defaults to the profile's host.
    type: str
  endpoint:
    description:
      - The endpoint in the shape the roles take it (C(mailops_smtp_endpoint)), so that a play can pass that
        variable as it is. A profile name, or a dict with the keys C(profile) (default V(m365)), C(host) and C(ports),
        which mean what O(profile), O(host) and O(ports) mean.
      - Mutually exclusive with O(profile), O(host) and O(ports).
    type: raw
  ports:
    description:
      - Ports to probe, as integers or as dicts with the keys C(port), C(security), C(expect) (V(open) or
        V(not_offered)) and C(connect_timeout).
      - Defaults to the profile's ports. A port of the profile keeps the profile's expectation.
    type: list
    elements: raw
  security:
    description:
      - V(auto) uses implicit TLS on 465 and STARTTLS elsewhere (or the profile's choice for its ports).
      - One of V(starttls), V(tls), V(none) for every port, or a map of port to mode (see EXAMPLES).
    type: raw
    default: auto
  require:
    description:
      - V(apps_port) is met when the first port passes through O(stop_after) (the endpoint's first port, which
        the settings roles write into the applications). V(any) is met when at least one port passes; V(all) when
        every port does, a port diagnosed C(port_not_offered) excepted; a list of ports when each of those passes.
      - With O(auth), the login runs on the first port, in the order of O(ports), that gets through TLS and EHLO
        (see O(auth_all_ports)), and the requirement is met only when that login succeeds.
    type: raw
    default: any
  timeout:
    description: Seconds for each network step (a reply, a handshake, name resolution).
    type: float
    default: 10
  connect_timeout:
    description: Seconds for the TCP connection. A profile port expected not offered uses a shorter one.
    type: float
    default: 5
  retries:
    description:
      - Retries of a port after a transient reply (421, 432, 451) or a connection reset, with backoff and jitter.
      - A silent drop (timeout) is never retried.
    type: int
    default: 2
  min_tls_version:
    description:
      - Lowest TLS version to accept.
      - V(1.0) and V(1.1) make the probe behave as an old client instead, which uses exactly that version, with
        OpenSSL's security level lowered so that it can be negotiated at all. Use them only to see how a server
        treats old clients (Microsoft 365 answers C(421 4.7.66)).
    type: str
    default: "1.2"
    choices: ["1.0", "1.1", "1.2", "1.3"]
  validate_certs:
    description: Verify the server's certificate chain and name. Turn off only to look at a broken certificate.
    type: bool
    default: true
  ca_path:
    description: A PEM file or a hashed directory of CA certificates, trusted in addition to the system store.
    type: path
  client_cert:
    description: A PEM client certificate, for connectors that recognise the sender by certificate.
    type: path
  client_key:
    description: The unencrypted key of O(client_cert), when it is not in the same file.
    type: path
  helo:
    description: The name to send in EHLO. Defaults to the host's FQDN.
    type: str
  auth:
    description: Credentials; without them the probe stops after EHLO.
    type: dict
    suboptions:
      username:
        description: The mailbox to authenticate as.
        type: str
        required: true
      password:
        description: Password or app password (AUTH LOGIN or PLAIN). Exclusive with O(auth.access_token).
        type: str
      access_token:
        description: An OAuth 2.0 access token (AUTH XOAUTH2). Exclusive with O(auth.password).
        type: str
      tenant_id:
        description: The Entra tenant, with O(auth.client_id) and O(auth.client_secret).
        type: str
      client_id:
        description: The app registration, with O(auth.tenant_id) and O(auth.client_secret).
        type: str
      client_secret:
        description:
          - The app registration's client secret. Without O(auth.access_token), the host first requests a token
            (client-credentials grant at the token authority of O(profile), trusting O(ca_path) too) and then
            logs in with XOAUTH2. A refused token request fails the probe before any connection to the server.
          - Exclusive with O(auth.password).
        type: str
      mechanism:
        description: V(auto) uses XOAUTH2 with a token, else LOGIN when offered, else PLAIN.
        type: str
        default: auto
        choices: [auto, login, plain, xoauth2]
  auth_all_ports:
    description:
      - Authenticate on every port. By default only the first port, in the order of O(ports), that passes TLS and
        EHLO authenticates, since Microsoft 365 allows 3 concurrent connections per mailbox. The other ports then
        have no C(auth) stage and C(auth) is null, since no login was tried on them.
    type: bool
    default: false
  send:
    description:
      - Send a test message after AUTH. Skipped in check mode.
      - Needs O(auth), except with O(profile=m365_connector). A connector relays by source IP address or
        client certificate (O(client_cert)), and only a message shows whether it relays for this host.
    type: dict
    suboptions:
      from:
        description: Envelope and header sender; for Microsoft 365 the mailbox itself unless it has SendAs rights.
        type: str
        required: true
      to:
        description: Recipients.
        type: list
        elements: str
        required: true
      subject:
        description: Subject of the test message.
        type: str
        default: mailops.smtp probe
  send_per_minute:
    description:
      - With O(send), at most this many test messages a minute through the mailbox (O(auth.username), else
        O(send.from)), counted across every host and fork of this controller, and across runs on it.
        A host waits on the controller for its turn before it connects.
      - Microsoft 365 delivers 30 messages a minute per mailbox; it accepts more, but throttles the excess and carries
        it over to the following minutes, delaying the mailbox's other mail too. V(30) is the most that stays
        undelayed. Unset, messages are not paced.
      - Applied by the action plugin on the controller; ignored in check mode, which sends nothing.
    type: int
  stop_after:
    description:
      - Last stage to run. V(auto) stops after V(send) with O(send), after V(auth) with O(auth), else after V(ehlo).
    type: str
    default: auto
    choices: [auto, connect, tls, ehlo, auth, send]
  check_oauth_endpoint:
    description: Also check TCP and TLS to the profile's token authority on 443 (is this host ready for XOAUTH2).
    type: bool
    default: false
  connector_host:
    description:
      - Also check the connector path from this host, in the same run and alongside the ports, without a login.
        That is port 25 to this host, the tenant's MX host C(<tenant>.mail.protection.outlook.com), as the
        V(m365_connector) profile checks it, with the same TLS settings and timeouts.
      - The result is RV(connector); it does not change RV(ok), since the connector is the way out for a host
        that cannot use the endpoint, not a requirement.
    type: str
  relays:
    description:
      - Also check the way from this host to the relays its applications send through (C(options.mode=via_relay)
        of mailops.smtp.settings), in the same run and alongside the ports. For each relay, TCP, the banner, EHLO,
        and STARTTLS with the certificate check where the applications use it; no login, since the relay takes
        none.
      - The result is RV(relays); it does not change RV(ok). A relay that does not answer is diagnosed
        C(relay_unreachable), with what to do.
    type: list
    elements: dict
    suboptions:
      host:
        description: The relay's address, as the applications have it (C(options.relay_host)).
        type: str
        required: true
      port:
        description: The relay's port (C(options.relay_port)).
        type: int
        default: 25
      security:
        description:
          - V(none) (plain SMTP) or V(starttls). Defaults as the via_relay presets write the applications' settings,
            V(none) on loopback and V(starttls) for a remote relay.
        type: str
        choices: [none, starttls]
notes:
  - C(changed) is always false.
  - Name resolution runs under O(timeout), since the resolver has no timeout of its own.
  - The system's trust store is read from its hashed certificate directory where that directory holds the CA
    bundle too (Debian, Ubuntu, Alpine), since OpenSSL then reads only the certificates a chain needs; elsewhere,
    and when E(SSL_CERT_FILE) or E(SSL_CERT_DIR) is set, the whole bundle is loaded.
seealso:
  - name: Authenticated client SMTP submission in Exchange Online
    description: Enabling and disabling SMTP AUTH per organisation and mailbox.
    link: https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission
"""

EXAMPLES = r"""
- name: Can this host reach Microsoft 365 submission?
  mailops.smtp.probe:
    profile: m365
  register: smtp_path
  failed_when: false

- name: The endpoint the roles use, as it is set for the play
  mailops.smtp.probe:
    endpoint: "{{ mailops_smtp_endpoint | default('m365') }}"
    check_oauth_endpoint: true
  register: smtp_path
  failed_when: false

- name: Check the credential too, with OAuth
  mailops.smtp.probe:
    profile: m365
    auth:
      username: svc-mailer@contoso.com
      access_token: "{{ smtp_token }}"
    check_oauth_endpoint: true

- name: Send a test message on 587 only
  mailops.smtp.probe:
    ports: [587]
    auth:
      username: svc-mailer@contoso.com
      password: "{{ smtp_password }}"
    send:
      from: svc-mailer@contoso.com
      to: [ops@contoso.com]
      subject: "SMTP check from {{ inventory_hostname }}"

- name: Both ports of a provider that offers 465 with implicit TLS
  mailops.smtp.probe:
    profile: custom
    host: smtp.example.net
    ports: [587, 465]
    security: {587: starttls, 465: tls}
    require: all

- name: Can this host submit mail, and is the connector path open as the way out?
  mailops.smtp.probe:
    profile: m365
    check_oauth_endpoint: true
    connector_host: contoso-com.mail.protection.outlook.com
  register: smtp_path
  failed_when: false

- name: Can this host reach the relay its applications send through (options.mode via_relay)?
  mailops.smtp.probe:
    profile: m365
    relays:
      - host: 127.0.0.1
        port: 25
  register: smtp_path
  failed_when: false

- name: Connector relay with a client certificate
  mailops.smtp.probe:
    profile: m365_connector
    host: contoso-com.mail.protection.outlook.com
    client_cert: /etc/ssl/relay/client.pem
    client_key: /etc/ssl/relay/client.key
"""

RETURN = r"""
ok:
  description: Whether the requirement (O(require)) is met.
  returned: always
  type: bool
  sample: true
summary:
  description: One line per port, for humans.
  returned: always
  type: str
  sample: "587 ok (STARTTLS TLSv1.3, AUTH XOAUTH2 235 2.7.0); 465 not offered by this endpoint (expected)"
elapsed_ms:
  description: Wall time of the whole probe in milliseconds.
  returned: always
  type: float
  sample: 412.7
oauth_endpoint:
  description: TCP and TLS to the token authority.
  returned: when O(check_oauth_endpoint) is true
  type: dict
  sample: {"ok": true, "ms": 85.2, "diagnosis": null}
endpoint:
  description:
    - What was probed, for the fleet report. C(apps_port) is the first port (the one the applications use);
      C(oauth_authority) is the profile's token authority, null for an endpoint without one (V(custom),
      V(m365_connector)).
  returned: when the probe ran
  type: dict
  sample: {"profile": "m365", "host": "smtp.office365.com", "apps_port": 587,
           "oauth_authority": "https://login.microsoftonline.com"}
diagnosis:
  description: Why the probe could not run at all (C(local_file_unusable)); the ports are then not probed.
  returned: when a local file cannot be used
  type: dict
  sample: {"code": "local_file_unusable", "title": "A file the probe needs cannot be used on the host"}
connector:
  description:
    - The connector path, shaped as a result of its own (C(ok), C(summary), C(elapsed_ms), C(ports) with port 25).
  returned: when O(connector_host) is set
  type: dict
  sample: {"ok": true, "summary": "25 ok (STARTTLS TLSv1.3)", "elapsed_ms": 120.5, "ports": {"25": {"ok": true}}}
relays:
  description:
    - One entry per relay of O(relays), in that order (duplicates dropped), each C(relay) (C(host), C(port),
      C(security)), C(ok), C(summary), C(elapsed_ms), C(ports) (the relay's port, shaped as RV(ports)),
      C(diagnosis) (null when ok) and C(message) (what is wrong and what to do, null when ok).
  returned: when O(relays) is set
  type: list
  elements: dict
  sample:
    - relay: {host: 127.0.0.1, port: 25, security: none}
      ok: false
      summary: "25 failed at connect: tcp_refused (The connection was refused)"
      message: "the relay at 127.0.0.1:25 refused the connection: run the mailops.smtp.relay playbook on this host,
        start its Postfix, or check smtp_relay_listen"
      diagnosis: {code: relay_unreachable, title: "The application's relay does not answer"}
ports:
  description:
    - One entry per port, keyed by the port number as a string.
    - Each has C(ok), C(security), C(expected), C(address), C(stages) (a list of C(name), C(ok), C(ms), C(detail)),
      C(tls) (C(version), C(cipher), C(cert) with C(subject), C(san), C(issuer), C(not_after), C(days_left),
      C(chain_trusted), C(hostname_match)), C(extensions), C(auth_mechanisms), C(auth) (C(mechanism), C(ok),
      C(reply)) and C(diagnosis) (C(code), C(title), C(cause), C(fix), C(reference)), null when ok without warning.
  returned: always
  type: dict
  sample:
    "587":
      ok: true
      security: starttls
      expected: open
      address: 52.96.0.2
      stages:
        - {name: dns, ok: true, ms: 3.1, detail: "smtp.office365.com -> 52.96.0.2"}
        - {name: connect, ok: true, ms: 20.4, detail: "connected to 52.96.0.2 port 587"}
        - {name: banner, ok: true, ms: 40.2, detail: "220 BN0PR04CA0001.outlook.office365.com Microsoft ESMTP"}
        - {name: ehlo, ok: true, ms: 20.3, detail: "BN0PR04CA0001 Hello | SIZE 157286400, STARTTLS"}
        - {name: starttls, ok: true, ms: 20.1, detail: "220 2.0.0 SMTP server ready"}
        - {name: tls, ok: true, ms: 41.0, detail: "TLSv1.3 TLS_AES_256_GCM_SHA384"}
        - {name: ehlo_tls, ok: true, ms: 20.2, detail: "BN0PR04CA0001 Hello | AUTH LOGIN XOAUTH2"}
        - {name: auth, ok: true, ms: 120.4, detail: "235 2.7.0 Authentication successful"}
      tls:
        version: TLSv1.3
        cipher: TLS_AES_256_GCM_SHA384
        cert:
          subject: "CN=outlook.com,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US"
          san: ["DNS:*.office365.com", "DNS:outlook.com"]
          issuer: "CN=DigiCert Cloud Services CA-1,O=DigiCert Inc,C=US"
          not_after: "2026-10-01T23:59:59Z"
          days_left: 180
          chain_trusted: true
          hostname_match: true
      extensions: ["SIZE 157286400", "PIPELINING", "AUTH LOGIN XOAUTH2", "8BITMIME"]
      auth_mechanisms: ["LOGIN", "XOAUTH2"]
      auth: {mechanism: XOAUTH2, ok: true, reply: "235 2.7.0 Authentication successful"}
      diagnosis: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import oauth
from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import diagnosis
from ansible_collections.mailops.smtp.plugins.module_utils.endpoint import EndpointError, build_plan
from ansible_collections.mailops.smtp.plugins.module_utils.smtp_client import ProbeInputError
from ansible_collections.mailops.smtp.plugins.module_utils.smtp_probe import run_probe


def argument_spec():
    return dict(
        profile=dict(type="str", default="m365",
                     choices=["m365", "m365_gcc_high", "m365_dod", "m365_china", "m365_connector", "custom"]),
        host=dict(type="str"),
        endpoint=dict(type="raw"),
        ports=dict(type="list", elements="raw"),
        security=dict(type="raw", default="auto"),
        require=dict(type="raw", default="any"),
        timeout=dict(type="float", default=10),
        connect_timeout=dict(type="float", default=5),
        retries=dict(type="int", default=2),
        min_tls_version=dict(type="str", default="1.2", choices=["1.0", "1.1", "1.2", "1.3"]),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        helo=dict(type="str"),
        auth=dict(type="dict", options=dict(
            username=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            access_token=dict(type="str", no_log=True),
            tenant_id=dict(type="str"),
            client_id=dict(type="str"),
            client_secret=dict(type="str", no_log=True),
            mechanism=dict(type="str", default="auto", choices=["auto", "login", "plain", "xoauth2"]),
        ), mutually_exclusive=[["password", "access_token"], ["password", "client_secret"]],
            required_one_of=[["password", "access_token", "client_secret"]],
            required_by={"client_secret": ("tenant_id", "client_id")}),
        auth_all_ports=dict(type="bool", default=False),
        send=dict(type="dict", options={
            "from": dict(type="str", required=True),
            "to": dict(type="list", elements="str", required=True),
            "subject": dict(type="str", default="mailops.smtp probe"),
        }),
        # Used by the action plugin on the controller; listed so that the module accepts it.
        send_per_minute=dict(type="int"),
        stop_after=dict(type="str", default="auto", choices=["auto", "connect", "tls", "ehlo", "auth", "send"]),
        check_oauth_endpoint=dict(type="bool", default=False),
        connector_host=dict(type="str"),
        relays=dict(type="list", elements="dict", options=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=25),
            security=dict(type="str", choices=["none", "starttls"]),
        )),
    )


def fetch_token(module):
    """With an app registration and no token in auth, request one from this host, so that the login
    proves the whole chain (token endpoint reachable, secret valid, mailbox allows the app)."""
    auth = module.params.get("auth")
    if not auth or auth.get("access_token") or not auth.get("client_secret"):
        return
    try:
        token = oauth.get_access_token(auth["tenant_id"], auth["client_id"], auth["client_secret"],
                                       profile=module.params["profile"], ca_path=module.params["ca_path"],
                                       validate_certs=module.params["validate_certs"],
                                       timeout=module.params["timeout"], use_cache=False)
    except oauth.OAuthError as exc:
        module.fail_json(msg="the token request failed, so no login was made: %s" % exc, changed=False, ok=False,
                         summary="token request refused: %s" % exc, ports={})
    module.no_log_values.add(token["access_token"])
    auth["access_token"] = token["access_token"]


def run_module():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[["endpoint", "profile"], ["endpoint", "host"], ["endpoint", "ports"]])
    fetch_token(module)
    try:
        plan = build_plan(module.params)
    except EndpointError as exc:
        module.fail_json(msg=str(exc), changed=False)
    try:
        result = run_probe(plan, check_mode=module.check_mode)
    except ProbeInputError as exc:
        # A role registers this with failed_when: false; the diagnosis keeps the cause visible to the report.
        module.fail_json(msg=str(exc), changed=False, ok=False, diagnosis=diagnosis("local_file_unusable"))
    result["changed"] = False
    if not result["ok"]:
        module.fail_json(msg="SMTP probe failed: %s" % result["summary"], **result)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
