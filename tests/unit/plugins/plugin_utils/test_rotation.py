# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation's decisions: what a run was asked to roll out, when a report changed, what drift is."""

from __future__ import annotations

import json
import shlex

import pytest

from ansible_collections.mailops.smtp.plugins.filter.rotate_request import FilterModule
from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation import (
    NOTHING_TO_ROLL_OUT,
    rotate_holds,
    rotate_report_differs,
    rotate_request,
)


def test_the_role_gets_every_decision_as_a_filter():
    assert set(FilterModule().filters()) == {"rotate_request", "rotate_report_differs", "rotate_holds",
                                             "rotate_reach", "rotate_report", "rotate_host_outcome"}


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


# ---- items 1 and 2: hosts that cannot be reached, the report after every batch -----------------

from ansible_collections.mailops.smtp.plugins.plugin_utils._rotation_report import (  # noqa: E402
    finish_command,
    last_known,
    rotate_host_outcome,
    rotate_reach,
    rotate_report,
)

CRED = "secret/smtp/o365"
DOWN = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused", "changed": False}
UP = {"ping": "pong", "changed": False}


def _app(name, version, credential=CRED, check="postfix"):
    return {"name": name, "check": check, "credential": credential, "version": str(version)}


def _previous(**hosts):
    return json.dumps({"generated_at": "2026-12-01T10:00:00+00:00", "hosts": [
        {"host": h, "result": "rotated", "apps": [{"name": "postfix", "after": v, "credential_after": CRED}]}
        for h, v in hosts.items()]})


def _pin(mode="rotate", target=3, now=3, before=2):
    return {"mode": mode, "credential": CRED, "type": "basic", "new_credential": True, "stored": True,
            "vault_version_before": str(before), "target_version": str(target), "vault_version_now": str(now),
            "hosts": ["a", "b", "c"]}


def test_reach_names_the_hosts_down_and_stops_a_rotation_by_default():
    r = rotate_reach({"a": UP, "b": DOWN, "c": UP}, _previous(b="2"), "stop", "rotate")
    assert r["unreachable"] == ["b"] and r["stop"] is True
    assert r["last_known"] == {"b": [{"name": "postfix", "credential": CRED, "version": "2"}]}
    assert "b (unreachable: Failed to connect" in r["message"] and "nothing was stored" in r["message"]
    assert "smtp_rotate_unreachable=skip" in r["message"]


@pytest.mark.parametrize("action, mode", [("skip", "rotate"), ("stop", "report"), ("skip", "report")])
def test_reach_goes_on_with_skip_and_in_report_mode(action, mode):
    r = rotate_reach({"a": UP, "b": DOWN}, "", action, mode)
    assert r["unreachable"] == ["b"] and r["stop"] is False and r["message"] is None
    assert r["last_known"] == {"b": None}


def test_reach_counts_a_host_that_fails_to_answer_and_nothing_when_all_answer():
    r = rotate_reach({"a": {"failed": True, "msg": "python not found"}, "b": UP}, "", "skip", "rotate")
    assert r["unreachable"] == ["a"] and r["reasons"]["a"].startswith("failed to answer: python not found")
    assert rotate_reach({"a": UP}, "", "stop", "rotate")["stop"] is False
    with pytest.raises(ValueError):
        rotate_reach({"a": UP}, "", "maybe", "rotate")


def test_last_known_is_from_the_previous_report_that_lists_the_host_or_none():
    assert last_known(_previous(a="7"), "a") == [{"name": "postfix", "credential": CRED, "version": "7"}]
    assert last_known(_previous(a="7"), "z") is None
    assert last_known("not json", "a") is None and last_known("", "a") is None


def test_a_host_lost_is_unreachable_a_host_that_answers_failed():
    lost = rotate_host_outcome({"msg": "b cannot be reached any more"}, "Stop this host", DOWN)
    assert lost["result"] == "unreachable" and lost["reason"].startswith("lost during the rollout (Stop this host")
    failed = rotate_host_outcome({"msg": "Read-only file system"}, "Write", UP, [{"name": "postfix", "ok": False}])
    assert failed == {"result": "failed", "reason": "Write: Read-only file system",
                      "checks": [{"name": "postfix", "ok": False}]}


CLI = {"args": ("mailops.smtp.rotate",), "inventory": ("/srv/inv.yml",), "subset": "web",
       "extra_vars": ("@/srv/rotate.yml", "smtp_rotate_new_credential_file=/root/s smtp_rotate_serial=1",
                      '{"mailops_smtp_vault": {"auth": {"token": "hvs.SECRET"}}, "smtp_rotate_hosts": "web"}'),
       "become": True, "verbosity": 3, "check": False}


def _parse(text):
    if text.startswith("{"):
        return json.loads(text)
    return dict(kv.split("=", 1) for kv in text.split())


def test_the_finish_command_is_the_same_run_with_the_version_pinned_and_no_secret():
    cmd, left_out = finish_command(CLI, "4", _parse)
    argv = shlex.split(cmd)
    assert argv[:8] == ["ansible-playbook", "-i", "/srv/inv.yml", "--limit", "web", "--become",
                        "mailops.smtp.rotate", "-e"]
    assert argv[8] == "@/srv/rotate.yml"
    assert json.loads(argv[10]) == {"smtp_rotate_serial": "1"}
    assert json.loads(argv[12]) == {"smtp_rotate_hosts": "web"}
    assert json.loads(argv[-1]) == {"smtp_rotate_version": "4", "smtp_rotate_new_credential": "",
                                    "smtp_rotate_new_credential_file": ""}
    assert left_out == ["mailops_smtp_vault"] and "SECRET" not in cmd and "/root/s" not in cmd


def _facts(**hosts):
    return {h: {"before": [_app("postfix", b)], "after": None if a is None else [_app("postfix", a)],
                "outcome": None if o is None else ({"result": o} if o != "ok" else {"result": "ok", "checks": []})}
            for h, (b, a, o) in hosts.items()}


def test_in_progress_report_after_a_batch():
    r = rotate_report(_pin(), ["a", "b", "c"], _facts(a=(2, 3, "ok"), b=(2, None, None), c=(2, None, None)),
                      active=["a"], phase="in_progress", cli=CLI, parse=_parse)
    assert r["state"] == "in_progress" and not r["stopped"]
    assert [(h["host"], h["result"], h["apps"][0]["after"]) for h in r["hosts"]] == [
        ("a", "rotated", "3"), ("b", "not_reached", "2"), ("c", "not_reached", "2")]
    pinned = {"smtp_rotate_new_credential": "", "smtp_rotate_new_credential_file": "", "smtp_rotate_version": "3"}
    assert r["finish_command"].endswith(shlex.quote(json.dumps(pinned, sort_keys=True)))
    assert r["message"] is None


def test_a_host_lost_mid_rollout_is_unreachable_counts_as_failed_and_the_run_says_how_to_finish():
    facts = _facts(a=(2, 3, "ok"), b=(2, None, "unreachable"), c=(2, 3, "ok"))
    facts["b"]["outcome"]["reason"] = "lost during the rollout (x: refused)"
    r = rotate_report(_pin(), ["a", "b", "c"], facts, active=["a", "b", "c"], max_fail_percentage=50,
                      cli=CLI, parse=_parse, paths={"markdown": "/r/rotation.md"})
    assert r["state"] == "unreachable" and r["unreachable"] == ["b"] and not r["stopped"]
    b = r["hosts"][1]
    assert b["result"] == "unreachable" and b["apps"][0]["after"] == "unknown" and not b["apps"][0]["drift"]
    assert (r["summary"]["attempted"], r["summary"]["failed"], r["summary"]["unreachable"]) == (3, 1, 1)
    assert r["drift"] == []
    assert "b (lost during the rollout" in r["message"] and r["finish_command"] in r["message"]
    assert "Do not revoke" in r["message"] and "mailops_smtp_vault" in r["message"]
    # At the default threshold, the same loss stops the rollout.
    stopped = rotate_report(_pin(), ["a", "b", "c"], facts, cli=CLI, parse=_parse)
    assert stopped["state"] == "stopped" and "the rollout stopped" in stopped["message"]


def test_hosts_unreachable_before_the_run_get_their_last_known_version():
    reach = rotate_reach({"a": UP, "b": DOWN, "c": DOWN}, _previous(b="2"), "skip", "rotate")
    r = rotate_report(_pin(), ["a", "b", "c"], _facts(a=(2, 3, "ok")), active=["a"], reach=reach, cli=CLI,
                      parse=_parse)
    assert [(h["result"], [x["after"] for x in h["apps"]]) for h in r["hosts"]] == [
        ("rotated", ["3"]), ("unreachable", ["2"]), ("unreachable", [])]
    assert "versions as the report of 2026-12-01T10:00:00+00:00 last saw them" in r["hosts"][1]["reason"]
    assert "no earlier report lists it" in r["hosts"][2]["reason"]
    assert r["state"] == "unreachable" and r["summary"]["attempted"] == 1 and r["summary"]["failed"] == 0


def test_report_mode_lists_unreachable_hosts_apart_from_drift_and_gives_no_command():
    reach = rotate_reach({"a": UP, "b": DOWN, "c": UP}, _previous(b="1"), "stop", "report")
    r = rotate_report(_pin("report"), ["a", "b", "c"], _facts(a=(3, 3, None), c=(3, 2, None)), reach=reach,
                      cli=CLI, parse=_parse)
    assert [h["result"] for h in r["hosts"]] == ["in_sync", "unreachable", "drift"]
    assert [d["host"] for d in r["drift"]] == ["c"] and r["unreachable"] == ["b"]
    assert r["finish_command"] is None and r["message"] is None


def test_a_run_stopped_before_pinning_reports_the_hosts_and_nothing_stored():
    reach = rotate_reach({"a": UP, "b": DOWN}, "", "stop", "rotate")
    r = rotate_report(None, ["a", "b"], {}, reach=reach, credential=CRED, cli=CLI, parse=_parse)
    assert r["state"] == "unreachable" and r["stored"] is False and r["target_version"] is None
    assert [h["result"] for h in r["hosts"]] == ["not_reached", "unreachable"]
    assert r["credential"] == CRED and r["finish_command"] is None


def test_done_when_every_host_holds_the_target():
    r = rotate_report(_pin(), ["a"], _facts(a=(2, 3, "ok")), cli=CLI, parse=_parse)
    assert r["state"] == "done" and r["finish_command"] is None and r["message"] is None
