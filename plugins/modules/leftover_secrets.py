#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: leftover_secrets
short_description: Remove the secret files mailops.smtp wrote for a mode an application no longer uses
version_added: 0.1.0
description:
  - When an application changes mode, the files of the old mode stay behind with the secret they hold.
    This module removes them, and only those mailops.smtp can show it wrote.
  - "V(postfix_sasl_map): a Postfix instance in connector mode no longer reads its SASL map. C(sasl_passwd)
    (the mailbox password) and its compiled map (C(.db), C(.lmdb) or C(.cdb)) are removed when
    C(sasl_passwd) carries the drift marker of M(mailops.smtp.settings), holds exactly one entry (the one
    it wrote), and no other C(main.cf) parameter or C(master.cf) line names it (C(smtp_sasl_password_maps)
    does not count: connector mode deletes it). Otherwise the files are kept and RV(kept) says why."
  - "V(xoauth2_refresher): msmtp that no longer uses XOAUTH2 no longer needs the token refresher of its
    account. Removed: C(<account>.oauth.json) (the client secret) with its drift marker
    C(<account>.oauth.json.mailops-smtp.json), required for it; the token file with its expiry file, when
    the refresher's cron entry or unit names it or the expiry file is the refresher's; the cron file
    C(/etc/cron.d/mailops-smtp-token-<account>), or the systemd units
    C(mailops-smtp-token-<account>.service) and C(.timer) (the timer is disabled and stopped first,
    then systemd reloaded), when they run the mailops.smtp refresher. The refresher program itself holds no
    secret and stays (other accounts may use it)."
  - "V(relay_refresher): a relay of the P(mailops.smtp.smtp_relay#role) role moved off the C(xoauth2) upstream no
    longer needs its token refresher. Removed, on the same proofs: C(relay.oauth.json) (the client secret)
    with its drift marker, the token file with its expiry file, and the cron file
    C(/etc/cron.d/mailops-smtp-relay-token)."
  - A file kept because nothing shows mailops.smtp wrote it is listed in RV(kept); a marked file kept
    because it is shared or still in use also gives a warning, since it still holds our secret.
  - Removal order leaves, after a run killed part way, what the next run needs to finish (each proof of
    ownership is removed after the files it proves).
  - The P(mailops.smtp.smtp_configure#role) role runs this module after writing the applications (and after
    reloading them), from its C(tasks_from=leftovers) entry point; other playbooks can call either.
author:
  - mailops.smtp maintainers (@mailops)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
  - mailops.smtp.attributes.action_group_smtp
attributes:
  check_mode:
    support: full
    details: Lists in RV(removed) what a real run would remove, and removes nothing.
  diff_mode:
    support: full
    details: Each removed file shows as a one-line description (what it was, the credential and version of its
      marker), never its content.
options:
  unused:
    description: What the applications of the host no longer use.
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description: V(postfix_sasl_map), V(xoauth2_refresher) or V(relay_refresher).
        type: str
        required: true
        choices: [postfix_sasl_map, xoauth2_refresher, relay_refresher]
      path:
        description:
          - For V(postfix_sasl_map), the Postfix config directory (default C(/etc/postfix)).
          - For V(xoauth2_refresher), the directory of the refresher's credential files (default
            C(/etc/mailops-smtp), the role's C(smtp_configure_refresher_config_dir)).
          - For V(relay_refresher), the directory of C(relay.oauth.json) (default C(/etc/mailops-smtp), the
            relay role's C(smtp_relay_config_dir)).
        type: path
      account:
        description: For V(xoauth2_refresher), the msmtp account (default V(mailops)).
        type: str
      token_file:
        description:
          - For V(xoauth2_refresher) and V(relay_refresher), the token file when no refresher entry names it
            (default C(/var/lib/mailops-smtp/<account>.token), or C(relay.token) for the relay).
        type: path
notes:
  - Files are removed under the same directory lock that M(mailops.smtp.settings) holds while it writes.
seealso:
  - module: mailops.smtp.settings
"""

EXAMPLES = r"""
- name: Postfix relays through the connector now; drop its SASL map
  mailops.smtp.leftover_secrets:
    unused:
      - kind: postfix_sasl_map
        path: /etc/postfix

- name: msmtp account mailops sends with a password now; drop the XOAUTH2 refresher's files
  mailops.smtp.leftover_secrets:
    unused:
      - kind: xoauth2_refresher
        account: mailops

- name: The relay reaches Microsoft 365 through the connector now; drop its XOAUTH2 refresher's files
  mailops.smtp.leftover_secrets:
    unused:
      - kind: relay_refresher
"""

RETURN = r"""
changed:
  description: Whether a file was (or, in check mode, would be) removed.
  returned: always
  type: bool
  sample: true
removed:
  description: The paths removed (in check mode, that would be removed), in the order of removal.
  returned: always
  type: list
  elements: str
  sample: ["/etc/postfix/sasl_passwd.db", "/etc/postfix/sasl_passwd"]
files:
  description:
    - Each file of RV(removed) with what it was, whether it holds a secret, and the credential and version its
      drift marker records (null where the file has no marker). Never its content.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/postfix/sasl_passwd, what: the Postfix SASL map, secret: true,
            credential: secret/smtp/o365-mailer, version: "6"}]
kept:
  description: Files of an unused mode that were left in place, each with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/postfix/sasl_passwd, reason: not written by mailops.smtp (/etc/postfix/sasl_passwd has no
            drift marker)}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import _leftovers


def argument_spec():
    return dict(
        unused=dict(type="list", elements="dict", required=True, options=dict(
            kind=dict(type="str", required=True, choices=list(_leftovers.KINDS)),
            path=dict(type="path"),
            account=dict(type="str"),
            token_file=dict(type="path", no_log=False),
        )),
    )


def run_module():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def run(argv):
        return module.run_command(argv)

    try:
        result = _leftovers.execute(module.params["unused"], run, check_mode=module.check_mode,
                                    want_diff=module._diff)
    except _leftovers.LeftoverError as e:
        module.fail_json(msg=str(e))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
