# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotate_tag_check filter: refuse an unsafe --tags/--skip-tags selection before anything runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils._rotate_tags import rotate_tag_problems


def rotate_tag_check(hosts, run_tags=None, skip_tags=None, version=None):
    """Return hosts unchanged when the tag selection is safe; raise with every problem otherwise."""
    problems = rotate_tag_problems(run_tags, skip_tags, version)
    if problems:
        raise AnsibleFilterError("Nothing was done. " + " ".join(problems) + " See docs/rotation.md, \"Tags\".")
    return hosts


class FilterModule(object):
    def filters(self):
        return {"rotate_tag_check": rotate_tag_check}
