# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation's decisions: what a run was asked to roll out, when a report changed, what drift is."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.filter.rotate_request import FilterModule
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import (
    NOTHING_TO_ROLL_OUT,
    rotate_holds,
    rotate_report_differs,
    rotate_request,
)


def test_the_role_gets_every_decision_as_a_filter():
    assert set(FilterModule().filters()) == {"rotate_request", "rotate_report_differs", "rotate_holds"}


# ---- item 5: no silent re-roll ---------------------------------------------------------

@pytest.mark.parametrize("version", ["", None, "  "])
def test_nothing_given_is_refused_not_a_reroll(version):
    r = rotate_request("rotate", "", "", version)
    assert r["problems"] == [NOTHING_TO_ROLL_OUT]
    assert r["new_from"] is None and r["version"] is None
    assert "smtp_rotate_version=latest" in NOTHING_TO_ROLL_OUT and "--check" in NOTHING_TO_ROLL_OUT


@pytest.mark.parametrize("version", ["latest", "LATEST", " latest "])
def test_latest_is_the_explicit_reroll(version):
    assert rotate_request("rotate", "", "", version) == {
        "mode": "rotate", "new_from": None, "version": "latest", "problems": []}


def test_latest_typed_at_the_prompt_is_a_reroll_not_a_secret():
    r = rotate_request("rotate", "latest", "", "")
    assert r["new_from"] is None and r["version"] == "latest" and r["problems"] == []


@pytest.mark.parametrize("version,expected", [("2", 2), (2, 2), ("17", 17)])
def test_a_version_number_pins_it(version, expected):
    r = rotate_request("rotate", "", "", version)
    assert r["version"] == expected and r["problems"] == []


@pytest.mark.parametrize("version", ["0", "-1", "v2", "2.0", "previous", True])
def test_anything_else_is_refused_with_what_is_allowed(version):
    r = rotate_request("rotate", "", "", version)
    assert len(r["problems"]) == 1
    assert "latest or a version number" in r["problems"][0]


def test_a_new_secret_from_the_prompt_or_the_file():
    assert rotate_request("rotate", "S3cret!", "", "") == {
        "mode": "rotate", "new_from": "prompt", "version": None, "problems": []}
    assert rotate_request("rotate", "", "/root/new", "")["new_from"] == "file"


def test_a_new_secret_and_a_version_together_are_refused_without_the_secret():
    for r in (rotate_request("rotate", "S3cret!", "", "2"), rotate_request("rotate", "", "/f", "latest")):
        assert any("cannot go with a new credential" in p for p in r["problems"])
        assert not any("S3cret!" in p for p in r["problems"])


def test_both_the_prompt_and_a_file_are_refused():
    r = rotate_request("rotate", "S3cret!", "/f", "")
    assert any("not both" in p for p in r["problems"])
    assert not any("S3cret!" in p for p in r["problems"])


@pytest.mark.parametrize("args", [("", "", ""), ("", "", "latest"), ("x", "", "3"), ("", "", "junk")])
def test_report_mode_needs_no_secret_and_pins_nothing(args):
    assert rotate_request("report", *args) == {"mode": "report", "new_from": None, "version": None, "problems": []}


# ---- item 8: report changed only when its content did --------------------------------------

REPORT = {"mode": "report", "vault_version_now": "3", "generated_at": "2026-12-07T00:00:00+00:00",
          "hosts": [{"host": "a", "result": "drift", "apps": [{"name": "postfix", "after": "2"}]}]}


def test_a_report_differing_only_in_time_is_the_same():
    later = dict(REPORT, generated_at="2026-12-07T01:00:00+00:00", duration_seconds=12.5)
    later["hosts"] = [dict(REPORT["hosts"][0], elapsed=3)]
    assert rotate_report_differs(later, REPORT) is False


def test_a_report_with_other_content_differs():
    other = dict(REPORT, hosts=[{"host": "a", "result": "in_sync", "apps": [{"name": "postfix", "after": "3"}]}])
    assert rotate_report_differs(other, REPORT) is True
    assert rotate_report_differs(dict(REPORT, vault_version_now="4"), REPORT) is True


@pytest.mark.parametrize("previous", [None, {}, "", [], "{not json", "[]"])
def test_no_or_an_unreadable_previous_report_differs(previous):
    assert rotate_report_differs(REPORT, previous) is True


def test_the_previous_report_as_the_text_of_rotation_json():
    import json
    assert rotate_report_differs(REPORT, json.dumps(dict(REPORT, generated_at="x")) + "\n") is False


# ---- item 4: drift is path and version ---------------------------------------------------

def test_same_path_and_version_holds():
    assert rotate_holds({"credential": "secret/smtp/o365-mailer", "version": "9"}, "secret/smtp/o365-mailer", 9)


def test_another_path_with_the_same_version_does_not_hold():
    assert not rotate_holds({"credential": "secret/smtp/other", "version": "9"}, "secret/smtp/o365-mailer", 9)


def test_another_mount_does_not_hold():
    assert not rotate_holds({"credential": "kv/smtp/o365-mailer", "version": "9"}, "secret/smtp/o365-mailer", "9")


def test_another_version_does_not_hold():
    assert not rotate_holds({"credential": "secret/smtp/o365-mailer", "version": "8"}, "secret/smtp/o365-mailer", 9)


@pytest.mark.parametrize("app", [{"credential": "inline", "version": "none"}, {"credential": "none", "version": "none"},
                                 {"version": "9"}, None, {"credential": None, "version": "unknown"}])
def test_no_vault_marker_does_not_hold(app):
    assert not rotate_holds(app, "secret/smtp/o365-mailer", 9)


def test_stray_slashes_in_the_mount_or_path_are_the_same_credential():
    # The marker writes <mount>/<path> with slashes stripped; mailops_smtp_vault may carry them.
    assert rotate_holds({"credential": "secret/smtp/o365-mailer", "version": "9"}, "secret//smtp/o365-mailer/", "9")
