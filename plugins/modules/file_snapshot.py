#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: file_snapshot
short_description: Save a host's files before a change and put them back exactly if it fails
version_added: 0.1.0
description:
  - "V(saved) copies the files in O(files) and everything under the directories in O(trees) into the
    snapshot directory O(path), which it creates with mode C(0700) (and its missing parents with C(0700)).
    For each path it records whether it was absent, or its content, mode, owner and group."
  - "A symbolic link is saved as a link (its target, owner and group), and the file it resolves to is saved
    too when that is a regular file or does not exist, since a writer with C(follow) writes that file."
  - "An absent path is recorded with its missing parent directories: a restore removes the file, then those
    directories when they are empty."
  - "A tree is a directory the change owns whole (the token refresher's directory, for example): a restore
    also removes every file and directory that appeared in it since, or the whole tree when it did not exist."
  - "V(restored) puts every saved path back: each file atomically (a candidate beside it renamed over it,
    under the directory lock every mailops.smtp writer takes), with its mode, owner and group; a path that was
    absent is removed. Only what differs is touched, so a second restore changes nothing. Timestamps are not
    restored. The snapshot is kept: remove it with V(absent)."
  - "V(absent) deletes the snapshot directory, then the parent directories its V(saved) created, when they are
    empty. It holds the old files, passwords included: delete it on every exit path of the change."
  - The module never returns the content of a file, nor a hash of it.
author:
  - mailops.smtp maintainers (@mailops)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
attributes:
  check_mode:
    support: full
    details: V(saved) lists what it would save and creates nothing; V(restored) lists in RV(differed) what it
      would put back and changes nothing; V(absent) says whether it would delete the snapshot.
  diff_mode:
    support: none
options:
  path:
    description:
      - The snapshot directory, for example C(/var/lib/mailops-smtp/migrate/<run id>).
      - It must not exist yet or be empty for V(saved). An existing directory that is a symbolic link, or whose
        mode is not C(0700) or owner not the user the module runs as, is refused in every state.
    type: path
    required: true
  state:
    description: V(saved), V(restored) or V(absent), as described above.
    type: str
    required: true
    choices: [saved, restored, absent]
  files:
    description:
      - For V(saved), the files to save, including files that do not exist yet (the change may create them).
      - A path that is a directory is refused; give it in O(trees).
    type: list
    elements: path
    default: []
  trees:
    description:
      - For V(saved), directories saved whole, with every directory, file and link under them (links are not
        followed). A tree may not exist yet.
      - A tree that holds O(path) is refused.
    type: list
    elements: path
    default: []
notes:
  - Run it with C(become) so that it can read and write files of mode C(0600) and set their owner.
  - Directories created by the change outside a tree are left in place unless they are the missing parents of
    a path that was absent.
seealso:
  - module: mailops.smtp.host_settings
  - module: mailops.smtp.leftover_secrets
"""

EXAMPLES = r"""
- name: Save what the change may write or remove
  mailops.smtp.file_snapshot:
    path: /var/lib/mailops-smtp/migrate/20261207T120000-ab12
    state: saved
    files: [/etc/msmtprc, /etc/postfix/main.cf, /etc/postfix/sasl_passwd, /etc/postfix/sasl_passwd.db]
    trees: [/etc/mailops-smtp]

- name: Put the files back after a failed change
  mailops.smtp.file_snapshot:
    path: /var/lib/mailops-smtp/migrate/20261207T120000-ab12
    state: restored
  register: restored

- name: Delete the snapshot, which holds the old passwords
  mailops.smtp.file_snapshot:
    path: /var/lib/mailops-smtp/migrate/20261207T120000-ab12
    state: absent
"""

RETURN = r"""
path:
  description: The snapshot directory.
  returned: always
  type: str
  sample: /var/lib/mailops-smtp/migrate/20261207T120000-ab12
files:
  description:
    - With V(saved), each saved path with what it was (V(absent), V(file), V(link) or V(directory)) and, when it
      existed, its mode, uid and gid (and a link's target). Never its content.
  returned: when state is saved
  type: list
  elements: dict
  sample: [{path: /etc/msmtprc, kind: file, mode: "0600", uid: 0, gid: 0},
           {path: /etc/mailops-smtp/mailops.oauth.json, kind: absent}]
differed:
  description:
    - With V(restored), the paths that differed from the snapshot and were put back (in check mode, that would
      be), then the paths that appeared in a saved tree and were removed. Empty after a second restore.
  returned: when state is restored
  type: list
  elements: str
  sample: [/etc/msmtprc, /etc/mailops-smtp/mailops.oauth.json]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.smtp.plugins.module_utils import _snapshot


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        state=dict(type="str", required=True, choices=["saved", "restored", "absent"]),
        files=dict(type="list", elements="path", default=[]),
        trees=dict(type="list", elements="path", default=[]),
    )


def run_module():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        if p["state"] == "saved":
            result = _snapshot.save(p["path"], p["files"], p["trees"], check_mode=module.check_mode)
        elif p["state"] == "restored":
            result = _snapshot.restore(p["path"], check_mode=module.check_mode)
        else:
            result = _snapshot.remove(p["path"], check_mode=module.check_mode)
    except _snapshot.SnapshotError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
