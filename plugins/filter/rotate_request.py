# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters the smtp_rotate role decides with: rotate_request, rotate_report_differs, rotate_holds,
rotate_reach, rotate_report and rotate_host_outcome.

One file for all (named after the first); each is documented in its own .yml beside it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import (
    rotate_holds,
    rotate_report_differs,
    rotate_request,
)
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation_report import (
    rotate_host_outcome,
    rotate_reach,
    rotate_report as _rotate_report,
)

# What the report reads of each host; the pin and the reach facts are the same on every host that has them.
_HOST_FACTS = (("before", "smtp_rotate__before"), ("after", "smtp_rotate__after"),
               ("outcome", "smtp_rotate__outcome"), ("leftovers", "smtp_rotate__leftovers"))


def _first(hostvars, hosts, name):
    for h in hosts:
        value = hostvars[h].get(name)
        if value is not None:
            return value
    return None


def _parse_extra_vars(text):
    """One inline -e, parsed the way ansible-playbook parses it (YAML/JSON, or key=value)."""
    from ansible.parsing.splitter import parse_kv
    from ansible.parsing.yaml.loader import AnsibleLoader
    text = text.strip()
    if text[:1] in ("{", "["):
        loaded = AnsibleLoader(text).get_single_data()
        return loaded if isinstance(loaded, dict) else {}
    return parse_kv(text)


def _cli():
    """The run's parsed command line; it is what makes the finish command exact."""
    from ansible import context
    return dict(context.CLIARGS)


def rotate_report(hostvars, hosts, active=None, phase="final", max_fail_percentage=0, paths=None,
                  generated_at=None, credential=None):
    """The rotation report from the facts the rotation left on each host (see plugin_utils/_rotation_report.py)."""
    hosts = list(hosts)
    facts = dict((h, dict((key, hostvars[h].get(var)) for key, var in _HOST_FACTS)) for h in hosts)
    return _rotate_report(_first(hostvars, hosts, "smtp_rotate__pin"), hosts, facts, active,
                          _first(hostvars, hosts, "smtp_rotate__reach"), phase, max_fail_percentage, paths,
                          _cli(), generated_at, credential, parse=_parse_extra_vars)


class FilterModule(object):
    def filters(self):
        return {
            "rotate_request": rotate_request,
            "rotate_report_differs": rotate_report_differs,
            "rotate_holds": rotate_holds,
            "rotate_reach": rotate_reach,
            "rotate_report": rotate_report,
            "rotate_host_outcome": rotate_host_outcome,
        }
