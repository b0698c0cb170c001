#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postconf
short_description: Set or remove Postfix main.cf parameters and master.cf entries with postconf
version_added: 0.1.0
description:
  - Compares the parameters explicitly set in C(main.cf) (C(postconf -n)) and the services of C(master.cf)
    (C(postconf -M)) with the wanted ones, and changes only those that differ, with C(postconf -e), C(postconf -X),
    C(postconf -M) and C(postconf -MX). Every other line of both files is left to Postfix's own editor.
  - It holds no secret; the P(mailops.smtp.smtp_relay#role) role uses it for the keys it owns (docs/relay.md).
  - It does not reload Postfix; notify a handler when the task reports a change.
author:
  - mailops.smtp maintainers (@mailops)
extends_documentation_fragment:
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_posix
  - mailops.smtp.attributes.action_group_smtp
attributes:
  check_mode:
    support: full
    details: Reports what would change, and changes nothing.
  diff_mode:
    support: full
    details: One C(name = value) line per parameter, one line per master.cf entry, before and after.
options:
  config_dir:
    description: The Postfix configuration directory.
    type: path
    default: /etc/postfix
  main:
    description: Parameter name to value; V(null) removes the parameter (Postfix's default applies again).
    type: dict
    default: {}
  master:
    description:
      - C(service/type) (for example C(mailops_xoauth2/unix)) to the whole entry as in master.cf; V(null) removes
        the entry. Entries are compared with their whitespace collapsed.
    type: dict
    default: {}
seealso:
  - module: mailops.smtp.settings
"""

EXAMPLES = r"""
- name: Listen on the loopback only and relay for it
  mailops.smtp.postconf:
    main:
      inet_interfaces: loopback-only
      mynetworks: 127.0.0.0/8 [::1]/128
      relayhost: null
"""

RETURN = r"""
changed_keys:
  description: The main.cf parameters that were (or, in check mode, would be) set or removed.
  returned: always
  type: list
  elements: str
changed_services:
  description: The master.cf entries (C(service/type)) that were (or would be) set or removed.
  returned: always
  type: list
  elements: str
"""

import re

from ansible.module_utils.basic import AnsibleModule

_NAME = re.compile(r"^[A-Za-z0-9_]+\Z")
_SERVICE = re.compile(r"^[A-Za-z0-9_.-]+/(inet|unix|unix-dgram|fifo|pass)\Z")


def normalize(entry):
    return " ".join(str(entry).split())


def parse_main(text):
    """`postconf -n` output -> {name: value}."""
    out = {}
    for line in text.splitlines():
        if " = " in line:
            k, v = line.split(" = ", 1)
            out[k.strip()] = v.strip()
        elif line.rstrip().endswith(" ="):
            out[line.rstrip()[:-2].strip()] = ""
    return out


def parse_master(text):
    """`postconf -M` output (one entry a line, whitespace-separated) -> {service/type: entry}."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 8:
            out["%s/%s" % (fields[0], fields[1])] = normalize(line)
    return out


def plan(current_main, current_master, want_main, want_master):
    """The changes: (main_set, main_remove, master_set, master_remove), each sorted."""
    main_set = sorted(k for k, v in want_main.items() if v is not None and current_main.get(k) != str(v))
    main_remove = sorted(k for k, v in want_main.items() if v is None and k in current_main)
    master_set = sorted(k for k, v in want_master.items()
                        if v is not None and current_master.get(k) != normalize(v))
    master_remove = sorted(k for k, v in want_master.items() if v is None and k in current_master)
    return main_set, main_remove, master_set, master_remove


def _lines(main, master, keys, services):
    out = ["%s = %s" % (k, main[k]) for k in keys if k in main]
    out += [master[s] for s in services if s in master]
    return "".join(line + "\n" for line in out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/etc/postfix"),
            main=dict(type="dict", default={}),
            master=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for k, v in p["main"].items():
        if not _NAME.match(k):
            module.fail_json(msg="%r is not a Postfix parameter name" % (k,))
        if v is not None and ("\n" in str(v) or "\r" in str(v)):
            module.fail_json(msg="the value of %s holds a line break, which main.cf cannot carry" % k)
    for k, v in p["master"].items():
        if not _SERVICE.match(k):
            module.fail_json(msg="%r is not a master.cf service/type (for example smtp/inet)" % (k,))
        if v is not None and (len(str(v).split()) < 8 or "%s/%s" % tuple(str(v).split()[:2]) != k):
            module.fail_json(msg="the master.cf entry for %s must start with its service and type and have "
                                 "8 fields or more" % k)
    postconf = module.get_bin_path("postconf", required=True, opt_dirs=["/usr/sbin"])
    base = [postconf, "-c", p["config_dir"]]
    rc, out, err = module.run_command(base + ["-n"], check_rc=False)
    if rc != 0:
        module.fail_json(msg="postconf -n failed in %s: %s; check that Postfix is installed and the "
                             "directory holds main.cf" % (p["config_dir"], err.strip()))
    current_main = parse_main(out)
    rc, out, err = module.run_command(base + ["-M"], check_rc=True)
    current_master = parse_master(out)

    want_main = dict((k, None if v is None else str(v)) for k, v in p["main"].items())
    main_set, main_remove, master_set, master_remove = plan(current_main, current_master, want_main,
                                                            p["master"])
    changed = bool(main_set or main_remove or master_set or master_remove)
    result = dict(changed=changed, changed_keys=main_set + main_remove,
                  changed_services=master_set + master_remove)
    if module._diff:
        after_main = dict(current_main)
        after_main.update((k, want_main[k]) for k in main_set)
        after_master = dict(current_master)
        after_master.update((k, normalize(p["master"][k])) for k in master_set)
        keys = sorted(set(main_set + main_remove))
        services = sorted(set(master_set + master_remove))
        result["diff"] = dict(before_header="%s (main.cf, master.cf)" % p["config_dir"],
                              after_header="%s (main.cf, master.cf)" % p["config_dir"],
                              before=_lines(current_main, current_master, keys, services),
                              after=_lines(after_main, after_master, [k for k in keys if k not in main_remove],
                                           [s for s in services if s not in master_remove]))
    if changed and not module.check_mode:
        if main_set:
            module.run_command(base + ["-e"] + ["%s=%s" % (k, want_main[k]) for k in main_set], check_rc=True)
        if main_remove:
            module.run_command(base + ["-X"] + main_remove, check_rc=True)
        for k in master_set:
            module.run_command(base + ["-M", "%s=%s" % (k, normalize(p["master"][k]))], check_rc=True)
        if master_remove:
            module.run_command(base + ["-MX"] + master_remove, check_rc=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
