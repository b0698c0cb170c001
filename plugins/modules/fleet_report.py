# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation only: the code is the action plugin of the same name, which
# runs on the controller and writes the report there.

DOCUMENTATION = r"""
module: fleet_report
short_description: Write the fleet report of mailops.smtp.probe results (JSON, JUnit, Markdown, HTML)
version_added: 0.1.0
description:
  - Turns the results of M(mailops.smtp.probe) from every host into one report on the controller,
    with one record per host and port, findings grouped by diagnosis, and the XOAUTH2 readiness of each host.
  - Writes C(report.json) (schema in C(docs/report.schema.json), described in C(docs/report.md)),
    C(report.junit.xml) (one test case per host and port), C(report.md) and C(report.html)
    (one self-contained page that loads nothing from the network).
  - This is an action plugin. It runs on the controller; use it once, with C(run_once=true).
  - Files are written atomically (a temporary file in the same directory, fsync, rename) with mode C(0640).
  - It never fails because hosts failed. It returns RV(passed), which the playbook uses for its verdict,
    so that the report is written even when hosts fail.
  - No report contains a secret. Keys named C(password), C(access_token), C(client_secret), C(token)
    (and C(*_password), C(*_token), C(*_secret)) are hidden, C(invocation) is dropped, and bearer tokens
    or C(AUTH) payloads in text are masked, even though the probe never returns them.
options:
  results:
    description:
      - The probe result of each host, keyed by inventory host name.
      - "A host Ansible could not reach is C({unreachable: true, msg: ...}). A probe that failed the task
        because the check failed still carries its C(ports), which are used. A probe that failed without
        C(ports) (bad input), a skipped result and a missing one (V(null)) count as failed hosts."
      - Exactly one of O(results) and O(hosts) is required.
    type: dict
  hosts:
    description:
      - Instead of O(results), the inventory host names to report on; each host's result is read from its
        host variable named by O(result_var), and its applications from O(apps_var).
      - A host that has no such variable and has left the play (unreachable) is reported as unreachable.
      - Usually C("{{ ansible_play_hosts_all }}").
    type: list
    elements: str
  result_var:
    description: With O(hosts), the name of the host variable that holds the probe result.
    type: str
    default: smtp_probe
  auth_result_var:
    description:
      - With O(hosts), the name of the host variable that holds a second probe result, with AUTH, for some hosts
        and ports. Its ports replace the same ports of O(result_var)'s result, and the host is ok only when both
        probes are.
    type: str
  auth_hosts:
    description:
      - With O(auth_result_var), the hosts whose AUTH result belongs to this run; the variable of any other host
        is ignored (it may be left over from an earlier run in the same play).
      - Without it, every host's O(auth_result_var) is used.
    type: list
    elements: str
  apps_var:
    description:
      - With O(hosts), the name of the host variable that lists the host's applications (for XOAUTH2 readiness),
        such as C(smtp_configure_apps). Hosts without it are reported without an application check.
    type: str
  report_dir:
    description:
      - Directory for the report files; created (mode C(0750)) when missing.
      - A relative path is relative to the current directory of C(ansible-playbook).
    type: path
    default: smtp-validate-report
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, junit, md, html]
    default: [json, junit, md, html]
  max_fail_percentage:
    description:
      - The largest share of failed hosts, in percent, with which the fleet still passes (RV(passed)).
      - A host fails when its probe result is not C(ok), or when it was unreachable.
      - XOAUTH2 readiness is reported, but does not count here.
    type: float
    default: 0
  title:
    description: The report's title.
    type: str
    default: SMTP submission readiness
  apps:
    description:
      - The applications configured on each host, keyed by host name, for the third readiness condition.
      - Each entry is a preset name of M(mailops.smtp.settings) (V(msmtp), V(postfix), ...) or the dict of
        a settings task's arguments (C(preset), C(format), C(options)).
      - OAuth-capable are V(msmtp) and V(gitlab) (through Microsoft Graph), V(postfix) with
        C(options.mode=connector), which needs no mailbox login, and any preset or generic format with
        C(options.mode=via_relay) whose relay's upstream (O(relay_upstream)) is V(xoauth2) or V(connector).
        Other generic formats count as not capable.
      - Hosts missing here are judged on the first two conditions only.
    type: dict
  relay_upstream:
    description:
      - The upstream (V(xoauth2), V(connector) or V(basic)) of the relay that each host's applications in
        C(options.mode=via_relay) send through, keyed by host name.
      - An application in via_relay mode counts as able to use OAuth 2.0 when its host's relay upstream is
        V(xoauth2) or V(connector); otherwise, or when the host is missing here, its reason is
        C(relay_without_oauth).
      - With O(hosts), it defaults to each host's O(relay_upstream_var).
    type: dict
  relay_upstream_var:
    description:
      - With O(hosts) and without O(relay_upstream), the name of the host variable that holds the upstream of the
        host's relay.
    type: str
    default: mailops_smtp_relay_upstream
  connector:
    description:
      - The probe result of the connector path (port 25 to the tenant's MX host) of each host, keyed by host name.
      - Shown beside a host that is not ready, as its way out.
    type: dict
  credential:
    description:
      - The registered result of the M(mailops.smtp.vault_credentials) task of this run (failed or not), so that a
        credential that could not be fetched shows in the report as C(credential) with its diagnosis
        C(credential_unavailable), and fails RV(passed), since no login could be checked.
      - Unset or V(null) when the run asked for no credential; the report's C(credential) is then V(null).
    type: dict
  connector_var:
    description:
      - With O(hosts), the name of the host variable that holds the probe result of the connector path, as
        O(connector) does. Hosts without it (or with a skipped result) are reported as not checked.
      - Without it, a probe result that checked the path itself (the C(connector) of a M(mailops.smtp.probe) run
        with O(mailops.smtp.probe#module:connector_host)) gives it.
    type: str
  relay:
    description:
      - The relay checks of each host, keyed by host name, for each application's path (C(readiness.apps[].path),
        C(works_now)) and the host's C(relay) in the report. Each value has C(hops), the C(relays) result of
        M(mailops.smtp.probe) (one entry per relay the host's applications send to; an entry may add
        C(relay_inventory_host), the inventory host that runs that relay), and C(upstream), C({mode, result}) with
        the upstream (V(xoauth2), V(connector), V(basic)) of the relay the host runs and the probe result that
        checked it (the login, or for V(connector) the probe's C(connector)).
      - A failed hop, or an upstream checked and failed, fails the host, as a failed port does.
      - With O(hosts), it defaults to what the hosts' probe results (O(result_var), their C(relays)) and
        O(relay_result_var) hold; a host runs a relay when one of its applications (O(apps_var)) sends to a
        loopback relay, or when its C(smtp_relay_listen) names addresses, and the relay's upstream is its
        O(relay_upstream_var).
    type: dict
  relay_result_var:
    description:
      - With O(hosts), the name of the host variable that holds the probe result of the login of the host's relay
        upstream (V(xoauth2), V(basic)).
    type: str
  credential_type:
    description:
      - The type of the credential the applications that log in themselves use, V(basic) or V(oauth2), for their
        path (msmtp logs in with XOAUTH2 with an V(oauth2) credential, GitLab sends through Microsoft Graph).
        Unset, the path of such an application is C(direct_unknown).
    type: str
    choices: [basic, oauth2]
  observed:
    description:
      - "What each host's application files say now, keyed by host name, for readiness observed rather than declared
        (issue 21). Each value is the result of M(mailops.smtp.host_settings) with C(observe), its C(apps) in the
        order of the host's O(apps). Each application row of the readiness then has C(observed) (C(method),
        C(relay_upstream), C(source), C(holds_password)); its path, C(works_now) and C(survives_retirement) follow
        the observed way, and an application whose file still holds a password (C(app_holds_password)) or whose
        files could not be read (C(app_not_observed), method V(unknown)) is not ready, whatever the inventory says."
      - A host left out, or with no result (unreachable), has every application V(unknown). Not given, readiness
        follows the inventory (O(apps)) alone, and the rows have no C(observed).
    type: dict
  observed_var:
    description:
      - With O(hosts) and without O(observed), the name of the host variable that holds that result.
    type: str
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_controller
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  check_mode:
    details:
      - Runs in check mode too and writes the report files, because they are the controller's own output
        and not a change on any managed host. This lets C(--check) runs of the validation report the same.
    support: full
  diff_mode:
    support: none
  async:
    description: Not supported.
    support: none
notes:
  - The task always reports C(changed=false); it changes nothing on managed hosts.
  - A host is V(ready) for XOAUTH2 when it reaches the token endpoint of the probed profile over TLS (the probe's
    C(oauth_endpoint), so probe with C(check_oauth_endpoint=true)), the applications' port (the endpoint's first)
    passes EHLO after TLS with C(XOAUTH2) offered, and, where O(apps) names its applications, every one of them
    can use OAuth 2.0. For an endpoint without a token authority (V(custom), V(m365_connector)) readiness is
    V(not_applicable).
seealso:
  - module: mailops.smtp.probe
author:
  - mailops.smtp maintainers (@mailops)
"""

EXAMPLES = r"""
- name: Probe every host
  mailops.smtp.probe:
    profile: m365
    check_oauth_endpoint: true
  register: smtp_probe
  ignore_errors: true
  ignore_unreachable: true

- name: Write the fleet report
  mailops.smtp.fleet_report:
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
               | map(attribute='smtp_probe', default=None))) }}"
    report_dir: "{{ playbook_dir }}/reports"
    max_fail_percentage: 10
    apps:
      web1: [msmtp]
      grafana1: [grafana]
  run_once: true
  delegate_to: localhost
  register: smtp_report

- name: Show the summary
  ansible.builtin.debug:
    msg: "{{ smtp_report.summary_table.splitlines() }}"
  run_once: true

- name: Fail the run when too many hosts failed
  ansible.builtin.assert:
    that: smtp_report.passed
    fail_msg: "{{ smtp_report.msg }}; see {{ smtp_report.paths.html }}"
  run_once: true
"""

RETURN = r"""
passed:
  description: Whether the share of failed hosts is at most O(max_fail_percentage).
  returned: always
  type: bool
  sample: false
summary:
  description: The counts of the report (the C(summary) object of C(report.json)).
  returned: always
  type: dict
  sample: {hosts: 6, hosts_ok: 2, hosts_failed: 4, hosts_unreachable: 1, hosts_ready: 1, hosts_not_ready: 5,
           records: 12, records_by_status: {fail: 4, unreachable: 2, warn: 1, info: 4, pass: 1},
           fail_percentage: 66.67, max_fail_percentage: 0, passed: false, cert_min_days_left: 21,
           hosts_blocked: 5, hosts_not_applicable: 0, headline: "1 of 6 hosts ready; 5 blocked",
           cause: "tcp_timeout, 1 host: 587 The connection timed out: silently dropped; fix: Open outbound TCP 587",
           verdict: "2 of 6 hosts passed the connectivity check; 4 failed, 1 of them unreachable; 66.67% failed, 0% allowed: FAILED"}
paths:
  description: The file written for each format.
  returned: always
  type: dict
  sample: {json: /srv/ops/smtp-validate-report/report.json, html: /srv/ops/smtp-validate-report/report.html}
report_dir:
  description: The absolute path of the report directory.
  returned: always
  type: str
  sample: /srv/ops/smtp-validate-report
summary_table:
  description: A short readable table, one line per host and one column per port, with the readiness verdict.
  returned: always
  type: str
  sample: "2 of 6 hosts passed the connectivity check; ...: FAILED.\nCause: ...\nXOAUTH2 readiness: 1 of 6 hosts ready;
    5 blocked.\n\nHOST  587        465                     LOGIN           XOAUTH2\napp1  ok 110 ms  not offered (expected)
    587 ok (LOGIN)  ready"
msg:
  description: The connectivity verdict, the real cause of a failed run, then the XOAUTH2 readiness headline.
  returned: always
  type: str
  sample: "2 of 6 hosts passed the connectivity check; 4 failed, 1 of them unreachable; 66.67% failed, 0% allowed:
    FAILED. Cause: tcp_timeout, 1 host: 587 The connection timed out: silently dropped; fix: Open outbound TCP 587.
    XOAUTH2 readiness: 1 of 6 hosts ready; 5 blocked."
"""
