# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which phases of a rotation a --tags/--skip-tags selection runs, and which selections are unsafe.

Internal use only. Controller side: the rotate playbook checks the selection in its first play's
`hosts:` keyword, so an unsafe one fails before any task runs (a task could itself be skipped by tags).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The tags of each phase, as the rotate playbook and the smtp_rotate role set them. The pin, the
# fleet lock and the report carry `always` too: a rotation without them is not safe or not reported.
PHASE_TAGS = {
    "pin": frozenset(["pin", "always"]),
    "lock": frozenset(["lock", "always"]),
    "inspect": frozenset(["inspect"]),
    "canary": frozenset(["canary"]),
    "store": frozenset(["store"]),
    "rollout": frozenset(["rollout"]),
    "report": frozenset(["report", "always"]),
}
ALWAYS_PHASES = ("pin", "lock", "report")


def _as_set(tags):
    if not tags:
        return frozenset()
    if isinstance(tags, str):
        tags = tags.split(",")
    return frozenset(str(t).strip() for t in tags if str(t).strip())


def _selected(tags, only_tags):
    """Whether --tags selects a task with these tags (ansible-core's rule for tagged tasks)."""
    if not only_tags or "always" in tags:
        return True
    if "all" in only_tags or "tagged" in only_tags:
        return "never" not in tags
    return not tags.isdisjoint(only_tags)


def _skipped(tags, skip_tags):
    """Whether --skip-tags skips a task with these tags (ansible-core's rule for tagged tasks)."""
    if "all" in skip_tags:
        return "always" not in tags or "always" in skip_tags
    return not tags.isdisjoint(skip_tags) or "tagged" in skip_tags


def phase_runs(phase, only_tags=None, skip_tags=None):
    """True when a --tags/--skip-tags selection runs this phase of the rotation."""
    tags = PHASE_TAGS[phase]
    only, skip = _as_set(only_tags), _as_set(skip_tags)
    return _selected(tags, only) and not _skipped(tags, skip)


def rotate_tag_problems(only_tags=None, skip_tags=None, version=None):
    """What makes a tag selection unsafe for a rotation; an empty list when it is safe.

    version is smtp_rotate_version as given (None when not given): rolling out a version that is
    already in Vault needs no store, while a new credential must be stored before it is rolled out.
    """
    runs = dict((phase, phase_runs(phase, only_tags, skip_tags)) for phase in PHASE_TAGS)
    problems = []
    skipped_always = [phase for phase in ALWAYS_PHASES if not runs[phase]]
    if skipped_always:
        offending = _as_set(skip_tags) & (frozenset(["always", "all", "tagged"]) | frozenset(skipped_always))
        problems.append(
            "The tag selection skips %s, which every rotation runs (tagged always). Remove %s from --skip-tags."
            % (", ".join(skipped_always), ", ".join(sorted(offending))))
    if runs["store"] and not runs["canary"]:
        problems.append(
            "The tag selection would store a new credential in Vault without the canary login that proves it first. "
            "Select canary together with store (--tags canary,store,...), or leave store out.")
    if runs["rollout"] and not runs["store"] and version in (None, ""):
        problems.append(
            "The tag selection would roll out a new credential without storing it in Vault, which splits the fleet "
            "from Vault. Select store (and canary) with rollout, or roll out a version already in Vault with "
            "-e smtp_rotate_version=<N|latest>.")
    return problems
