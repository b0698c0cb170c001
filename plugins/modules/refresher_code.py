#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: refresher_code
short_description: Install the token refresher and the collection code it runs, in one step
version_added: 0.1.0
description:
  - "Installs under O(dest) the XOAUTH2 token refresher (C(refresh-token)), the collection's own OAuth 2.0
    client it imports (C(oauth.py), C(profiles.py) and C(_atomic.py) from C(plugins/module_utils), as the
    package C(ansible_collections.mailops.smtp.plugins.module_utils) under C(python/)), and with
    O(relay_helper) the relay's pipe helper C(relay-send)."
  - "The files come from the collection on the controller, unchanged, so the host runs the code the collection
    tests, and a newer collection updates them on the next run. The action plugin reads them; the host gets
    them all in one call."
  - "Each file is written atomically, mode C(0644), owned by the user the module runs as, and only when its
    content, mode or owner differs. Missing directories are created with mode C(0755). Nothing is removed."
  - The roles C(mailops.smtp.smtp_configure) (msmtp apps on XOAUTH2) and C(mailops.smtp.smtp_relay) use it.
    No file it writes holds a secret; the credential the refresher reads is written by the roles, mode C(0600).
author:
  - mailops.smtp maintainers (@mailops)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
attributes:
  action:
    description: An action plugin on the controller reads the files from the collection; the module writes them.
    support: full
  check_mode:
    support: full
    details: Lists in RV(written) what would be written, and writes nothing.
  diff_mode:
    support: none
options:
  dest:
    description: The directory of the refresher, for example C(/usr/local/lib/mailops-smtp).
    type: path
    required: true
  relay_helper:
    description: Also install C(relay-send), the helper the relay's Postfix pipes each message to.
    type: bool
    default: false
  files:
    description:
      - Set by the action plugin from the collection's files; do not give it.
      - Each entry has C(path) (relative to O(dest)), C(content) and C(mode).
    type: list
    elements: dict
    default: []
notes:
  - Run it with C(become), as root; the refresher and the relay run the code it writes as root.
seealso:
  - module: mailops.smtp.settings
"""

EXAMPLES = r"""
- name: Install the token refresher and the relay helper
  mailops.smtp.refresher_code:
    dest: /usr/local/lib/mailops-smtp
    relay_helper: true
  become: true
"""

RETURN = r"""
written:
  description: The files written (in check mode, that would be), relative to O(dest). Empty on a second run.
  returned: always
  type: list
  elements: str
  sample: [refresh-token, python/ansible_collections/mailops/smtp/plugins/module_utils/oauth.py]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import _code_install


def argument_spec():
    return dict(
        dest=dict(type="path", required=True),
        relay_helper=dict(type="bool", default=False),
        files=dict(type="list", elements="dict", default=[]),
    )


def run_module():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not p["files"]:
        module.fail_json(msg="no file to install: run mailops.smtp.refresher_code through its action plugin "
                             "(the task's module name), which reads the files from the collection")
    try:
        written = _code_install.install(p["dest"], p["files"], check_mode=module.check_mode)
    except (_code_install.CodeInstallError, OSError) as e:
        module.fail_json(msg="cannot install the refresher under %s: %s" % (p["dest"], e))
    module.exit_json(changed=bool(written), written=written)


def main():
    run_module()


if __name__ == "__main__":
    main()
