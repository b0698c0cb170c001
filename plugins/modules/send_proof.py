#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: send_proof
short_description: Prove, per application, delivery of a real message through the path its files now say
version_added: 0.1.0
description:
  - For each application of the host, reads the application's settings file with the collection's own
    format classes (the ones M(mailops.smtp.settings) writes with) for the host, port, TLS mode and login it
    says now, sends one real message that way, and reports whether the Microsoft 365 side accepted it.
  - "The proof kind follows what the collection can run. V(app_command): the application's own sending
    command on its real configuration: msmtp (C(msmtp --file=<path> --account=<account>), XOAUTH2 with its
    C(passwordeval) token included) and Postfix (C(sendmail), then Postfix's log). V(smtp_client): for the
    applications whose code the collection cannot run (Grafana, Nextcloud, Django, Laravel, Spring, GitLab's
    SMTP, the generic formats), an SMTP client speaks to the same host and port with the same settings
    (STARTTLS or implicit TLS as the file says, the same login if there is one). V(graph_client): GitLab
    with the Microsoft Graph mailer, through the collection's Graph C(sendMail) client. V(relay_log): with
    O(message_ids), on a designated relay's host, the fate of messages other hosts sent through it."
  - "Accepted (RV(proofs[].accepted)) means Microsoft 365 (or its stand-in) accepted the message: C(250) after
    DATA, Graph's C(202), or, where the message went through a relay (C(options.mode=via_relay), and
    Postfix's own queue), the relay's Postfix log recording the upstream's acceptance (C(status=sent)) for
    that very message, found by its Message-ID or the relay's queue id. A relay's own C(250 queued as) is
    not an acceptance."
  - A refusal carries the diagnosis code of M(mailops.smtp.probe)'s catalogue (for example
    V(basic_auth_retired) for C(550 5.7.30)) and Microsoft's words in RV(proofs[].reply).
  - The password or client secret an application's file holds is used on the wire only; it is never
    returned (every reply is scrubbed of it as well).
author:
  - mailops.smtp maintainers (@mailops)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
  - mailops.smtp.attributes.action_group_smtp
attributes:
  check_mode:
    support: full
    details: Reads every file and returns, per application, what would be sent and how it would be judged
      (RV(proofs[].message)), with RV(proofs[].accepted) null; nothing is sent.
  diff_mode:
    support: none
options:
  apps:
    description:
      - The host's applications, as the P(mailops.smtp.smtp_configure#role) role takes them
        (C(smtp_configure_apps)); the keys below are read, others are ignored.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The name the proof is reported under (default C(<preset or format> <path>)).
        type: str
      preset:
        description: The application preset (V(msmtp), V(postfix), V(grafana), V(gitlab), V(spring), V(laravel),
          V(django), V(nextcloud)); or give O(apps[].format).
        type: str
      format:
        description: A generic format (V(ini), V(env), V(properties), V(json)); V(yaml) cannot be read on the
          target (no parser in Python's standard library) and is reported as such.
        type: str
      path:
        description: The settings file (Postfix, its configuration directory); the preset's default when
          omitted.
        type: path
      options:
        description: The app's options (C(mode), msmtp's C(account), ...).
        type: dict
      keys:
        description: A generic format's map from logical names (host, port, username, password,
          from_address, security, starttls, implicit_tls) to the application's keys.
        type: dict
      section:
        description: The INI section of a generic V(ini) file.
        type: str
  to:
    description: The recipient of every proof message.
    type: str
    required: true
  mail_from:
    description:
      - The envelope and header sender. Default, the sender the app's file names (its from address, else its
        login).
      - Microsoft 365 sends as the mailbox that logged in; another sender needs SendAs rights.
    type: str
  default_from:
    description:
      - The sender of an app whose file names none (no from address and no login, as an app that sends through a
        relay without logging in), when O(mail_from) is not given. Without it, such an app's proof is not made and
        says so.
      - The smtp_migrate role gives the mailbox of the credential it moves to.
    type: str
  timeout:
    description: Seconds each SMTP step, command or Graph call may take.
    type: int
    default: 30
  relay_log:
    description:
      - The relay's Postfix log, where the upstream's acceptance of a message sent through a relay is
        recorded (C(to=<...>, relay=..., status=sent)).
      - Default, for a relay on this host (loopback) and for a Postfix application, this host's Postfix log,
        C(maillog_file) from C(postconf), else C(/var/log/mail.log).
      - For a designated relay on another host its log cannot be read from here; give this option only where
        that log is shared with this host. Otherwise the proof returns RV(proofs[].awaiting_relay_log) true and
        the message id, and a run on the relay host with O(message_ids) reads the verdict.
    type: path
  relay_wait:
    description:
      - Seconds to wait for the relay's log to record the first delivery attempt of a message.
      - With O(message_ids), the seconds to wait while none of them is delivered; the wait goes on while the
        relay delivers them one after another (a relay paced to Microsoft 365's rate takes minutes for many).
    type: int
    default: 60
  message_ids:
    description:
      - On a designated relay's host, look up messages other hosts' runs sent through this relay in
        O(relay_log) (default, this host's Postfix log as above) instead of sending anything; each proof is of
        kind V(relay_log). O(apps) may then be empty.
      - Each item needs C(message_id) and may have C(name); the other keys are ignored, so the proofs of the
        other host's run (those with RV(proofs[].awaiting_relay_log)) can be given as they are.
    type: list
    elements: dict
  ca_path:
    description: Extra trust (a PEM file or a hashed directory) for the TLS of the SMTP client and the Graph
      client, as for M(mailops.smtp.probe). msmtp and Postfix use their own settings.
    type: path
notes:
  - Each application gets its own message, with a Message-ID of the form
    C(<mailops-proof.<hex>@<host>>) and the id in the subject, so that the receiving side can be checked.
  - Run it with C(become) where the app files are mode 0600.
  - GitLab's Graph mailer needs the collection's Graph client (C(module_utils/_graph_send.py)); where it is
    missing the proof is not accepted and says so.
seealso:
  - module: mailops.smtp.probe
  - module: mailops.smtp.settings
"""

EXAMPLES = r"""
- name: Prove each application of the host with a real message
  mailops.smtp.send_proof:
    apps: "{{ smtp_configure_apps }}"
    to: mail-proof@contoso.com
  become: true
  register: proof

- name: Stop when one was not accepted
  ansible.builtin.assert:
    that: proof.proofs | rejectattr('accepted') | list | length == 0
    fail_msg: "{{ proof.proofs | rejectattr('accepted') | map(attribute='message') | list }}"

- name: On the designated relay, read what became of the messages host web1 sent through it
  mailops.smtp.send_proof:
    apps: []
    to: mail-proof@contoso.com
    relay_log: /var/log/mail.log
    message_ids: "{{ hostvars['web1'].proof.proofs | selectattr('awaiting_relay_log') | list }}"
  become: true
"""

RETURN = r"""
proofs:
  description: One proof per application of O(apps) (or per O(message_ids) entry), in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The application.
      type: str
    kind:
      description: V(app_command), V(smtp_client), V(graph_client) or V(relay_log); null when the file could
        not be read.
      type: str
    accepted:
      description: Whether the Microsoft 365 side accepted the message (null in check mode).
      type: bool
    reply:
      description: The deciding reply, in the server's words (the upstream's C(status=sent (...)) text for a
        relay).
      type: str
    path:
      description: The way the app's file says it sends now. V(xoauth2), V(via_relay), V(connector), or
        V(basic) (a password), or V(none).
      type: str
    diagnosis:
      description: The catalogue code of a refusal (as M(mailops.smtp.probe) gives them), or null.
      type: str
    message_id:
      description: The Message-ID of the proof message.
      type: str
    message:
      description: What happened and what to do, when not accepted; in check mode, what would be sent.
      type: str
    relay_upstream:
      description: For a message through a relay, how the relay delivered it, from its log
        (V(xoauth2), V(connector), V(basic)).
      type: str
    relay_queue_id:
      description: The relay's (or this Postfix's) queue id of the message.
      type: str
    awaiting_relay_log:
      description: True when a designated relay on another host took the message and only its log can tell
        whether Microsoft 365 did (see O(message_ids)).
      type: bool
    file:
      description: The settings file read.
      type: str
    host:
      description: The mail server the file names.
      type: str
    port:
      description: Its port.
      type: int
    tls:
      description: V(none), V(starttls) or V(tls) (implicit), as the file says.
      type: str
    user:
      description: The login the file names (never the password), or null.
      type: str
    waited_s:
      description: The seconds this proof took (sending, the server's or the relay's answer, the wait for the
        relay's log); nearly all of it is waiting. M(mailops.smtp.send_proof) returns it so that a caller (the
        migrate playbook's report) can tell its own time from the proofs'.
      type: float
    started_at:
      description: When this proof began, in seconds since the epoch (with RV(proofs[].waited_s), the span it
        waited).
      type: float
  sample:
    - name: msmtp
      kind: app_command
      accepted: true
      reply: 250 2.0.0 OK <mailops-proof.6f1c@web1> [Hostname=stand-in]
      path: xoauth2
      diagnosis: null
      message_id: <mailops-proof.6f1c@web1>
    - name: grafana
      kind: smtp_client
      accepted: true
      reply: delivered via mailops_xoauth2 service
      path: via_relay
      relay_upstream: xoauth2
      diagnosis: null
      message_id: <mailops-proof.9a2e@web1>
    - name: laravel
      kind: smtp_client
      accepted: false
      reply: 550 5.7.30 Basic authentication is not supported for Client Submission
      path: basic
      diagnosis: basic_auth_retired
      message_id: <mailops-proof.77c0@web1>
waited_s:
  description: The seconds all the proofs took together (the sum of each proof's RV(proofs[].waited_s)).
  returned: always
  type: float
  sample: 2.417
"""

import os
import threading

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import _proof


def argument_spec():
    return dict(
        apps=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str"),
            preset=dict(type="str"),
            format=dict(type="str"),
            path=dict(type="path"),
            options=dict(type="dict"),
            keys=dict(type="dict", no_log=False),
            section=dict(type="str"),
        )),
        to=dict(type="str", required=True),
        mail_from=dict(type="str"),
        default_from=dict(type="str"),
        timeout=dict(type="int", default=30),
        relay_log=dict(type="path"),
        relay_wait=dict(type="int", default=60),
        message_ids=dict(type="list", elements="dict"),
        ca_path=dict(type="path"),
    )


def command_runner(module):
    """run(argv, stdin_text, timeout) -> (rc, out, err) on module.run_command; rc None when the command is not
    there (run_command would fail the whole module) or was killed at the timeout."""
    def run(argv, stdin_text, timeout):
        exe = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0])
        if not exe or not os.access(exe, os.X_OK):
            return None, "", "cannot run %s: not found on this host" % argv[0]
        killed = []
        timers = []

        def arm(proc):
            def kill():
                if proc.poll() is None:
                    killed.append(True)
                    proc.kill()
            timer = threading.Timer(timeout, kill)
            timer.daemon = True
            timers.append(timer)
            timer.start()
        try:
            rc, out, err = module.run_command([exe] + list(argv[1:]), data=stdin_text, binary_data=True,
                                              before_communicate_callback=arm)
        finally:
            for timer in timers:
                timer.cancel()
        if killed:
            return None, out, "%s did not finish within %d s" % (argv[0], timeout)
        return rc, out, err
    return run


def run_module():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        if p["message_ids"]:
            relay_log = p["relay_log"] or _proof.default_relay_log(command_runner(module))
            if not relay_log:
                module.fail_json(msg="this host's Postfix names no maillog_file and there is no %s: give relay_log, "
                                     "the path of this relay's Postfix log" % _proof.SYSLOG_MAIL)
            if not all(isinstance(i.get("message_id"), str) and i["message_id"] for i in p["message_ids"]):
                module.fail_json(msg="each item of message_ids needs message_id (a proof's message_id)")
            proofs = [] if module.check_mode else _proof.lookup(p["message_ids"], relay_log, p["relay_wait"])
        else:
            proofs = _proof.prove_all(p["apps"], p["to"], command_runner(module), p["mail_from"], p["ca_path"],
                                      p["timeout"], p["relay_log"], p["relay_wait"], module.check_mode,
                                      default_from=p["default_from"])
    except _proof.ProofInputError as e:
        module.fail_json(msg=str(e))
    # Sending is not a change of the host's state; the proofs say what happened.
    module.exit_json(changed=False, proofs=proofs, waited_s=_proof.waited(proofs))


def main():
    run_module()


if __name__ == "__main__":
    main()
