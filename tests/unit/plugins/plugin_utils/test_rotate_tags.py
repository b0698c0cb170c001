# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 16 item 7: which rotation phases a tag selection runs, and the selections that are refused."""

from __future__ import annotations

import itertools

import pytest
from ansible.errors import AnsibleFilterError
from ansible.playbook.block import Block
from ansible.playbook.play import Play
from ansible.playbook.task import Task

from ansible_collections.mailops.smtp.plugins.filter.rotate_tag_check import FilterModule, rotate_tag_check
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotate_tags import (
    PHASE_TAGS,
    phase_runs,
    rotate_tag_problems,
)

SELECTIONS = [None, [], ["all"], ["tagged"], ["always"], ["canary"], ["store"], ["rollout"], ["report"],
              ["canary", "store"], ["inspect", "report"], ["never"], ["pin", "lock"]]


def _ansible_runs(tags, only_tags, skip_tags):
    """ansible-core's own decision for a task carrying these tags."""
    task = Task(block=Block(play=Play()))
    task.tags = sorted(tags)
    return task.evaluate_tags(only_tags or [], skip_tags or [], {})


@pytest.mark.parametrize("phase", sorted(PHASE_TAGS))
@pytest.mark.parametrize("only_tags,skip_tags", list(itertools.product(SELECTIONS, SELECTIONS)))
def test_phase_runs_agrees_with_ansible_core(phase, only_tags, skip_tags):
    assert phase_runs(phase, only_tags, skip_tags) == _ansible_runs(PHASE_TAGS[phase], only_tags, skip_tags)


@pytest.mark.parametrize("only_tags,skip_tags,version", [
    (["all"], [], None),                                   # a whole rotation
    (["inspect", "report"], [], None),                     # a look at the fleet only
    (["canary"], [], None),                                # prove a secret, store nothing
    (["canary", "store"], [], None),                       # store, roll out later
    (["rollout"], [], "7"),                                # roll out what is already in Vault
    (["rollout"], [], "latest"),
    (["all"], ["inspect"], None),
    (["all"], ["all"], None),                              # --skip-tags all still runs the always phases
])
def test_safe_selections_pass(only_tags, skip_tags, version):
    assert rotate_tag_problems(only_tags, skip_tags, version) == []
    assert rotate_tag_check("web", only_tags, skip_tags, version) == "web"


@pytest.mark.parametrize("only_tags,skip_tags,expected", [
    (["store"], [], "without the canary login"),
    (["all"], ["canary"], "without the canary login"),
    (["rollout"], [], "without storing it in Vault"),
    (["canary", "rollout"], [], "without storing it in Vault"),
    (["all"], ["always"], "skips pin, lock, report"),
    (["all"], ["lock"], "skips lock"),
    (["all"], ["report"], "skips report"),
    (["all"], ["all", "always"], "skips pin, lock, report"),
])
def test_unsafe_selections_are_refused_with_what_to_do(only_tags, skip_tags, expected):
    problems = rotate_tag_problems(only_tags, skip_tags, None)
    assert any(expected in p for p in problems), problems
    with pytest.raises(AnsibleFilterError, match="Nothing was done") as err:
        rotate_tag_check("web", only_tags, skip_tags, None)
    assert expected in str(err.value) and "docs/rotation.md" in str(err.value)


def test_comma_separated_text_is_read_like_the_command_line():
    assert rotate_tag_problems("canary,store", "", None) == []
    assert rotate_tag_problems("store", "", None)


def test_the_filter_is_exported():
    assert FilterModule().filters() == {"rotate_tag_check": rotate_tag_check}


@pytest.mark.parametrize("skip_tags,named", [(["always"], "Remove always from"), (["lock"], "Remove lock from"),
                                             (["report", "inspect"], "Remove report from")])
def test_the_refusal_names_only_the_skipped_tags_to_remove(skip_tags, named):
    assert any(named in p for p in rotate_tag_problems(["all"], skip_tags, None))
