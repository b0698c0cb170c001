# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action plugin mailops.smtp.fleet_report: options, atomic 0640 files, check mode, no secrets.

One real ansible-playbook run against localhost (connection local) in normal and in check mode;
the rest calls the plugin's helpers directly.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.mailops.smtp.plugins.action import fleet_report

from test_report import APPS, CONNECTOR, SCHEMA, SECRET, TOKEN, poisoned

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".build" / "collections"
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: Write the report
      mailops.smtp.fleet_report:
        results: "{{ results }}"
        apps: "{{ apps }}"
        connector: "{{ connector }}"
        report_dir: "{{ report_dir }}"
        title: Contoso mail readiness
        max_fail_percentage: 50
      register: rep
    - name: Keep what the task returned
      ansible.builtin.copy:
        content: "{{ rep | to_json }}"
        dest: "{{ report_dir }}/../returned.json"
        mode: "0600"
      check_mode: false
    - name: Show the summary table
      ansible.builtin.debug:
        msg: "{{ rep.summary_table.splitlines() }}"
"""


def _playbook(tmp_path, check):
    report_dir = tmp_path / ("check" if check else "run") / "reports"
    report_dir.parent.mkdir(parents=True)
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"results": poisoned(), "apps": APPS, "connector": CONNECTOR,
                                 "report_dir": str(report_dir)}))
    play = tmp_path / "play.yml"
    play.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_REMOTE_TEMP=str(tmp_path / "rtmp"), ANSIBLE_HOME=str(tmp_path / "home"))
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", str(play),
           "-e", "@%s" % extra, "-v"] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    returned = json.loads((report_dir.parent / "returned.json").read_text())
    return report_dir, returned, proc.stdout


@pytest.mark.parametrize("check", [False, True], ids=["normal", "check_mode"])
def test_playbook_writes_all_four_files_atomically_with_0640(tmp_path, check):
    report_dir, returned, stdout = _playbook(tmp_path, check)
    names = sorted(p.name for p in report_dir.iterdir())
    assert names == ["report.html", "report.json", "report.junit.xml", "report.md"]  # no temp file left
    for p in report_dir.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p
        text = p.read_text()
        assert SECRET not in text and TOKEN not in text, p
    report = json.loads((report_dir / "report.json").read_text())
    jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert len(ET.parse(report_dir / "report.junit.xml").getroot().findall("./testsuite/testcase")) == 12
    assert returned["changed"] is False and returned["passed"] is False
    assert returned["summary"]["hosts_failed"] == 4 and returned["summary"]["max_fail_percentage"] == 50
    assert returned["paths"]["html"] == str(report_dir / "report.html")
    # Connectivity and its real cause first, then XOAUTH2 readiness (issue 17).
    lines = returned["summary_table"].splitlines()
    assert lines[0].startswith("2 of 6 hosts passed the connectivity check") and lines[0].endswith("FAILED.")
    assert lines[1].startswith("Cause: ") and lines[2] == "XOAUTH2 readiness: 1 of 6 hosts ready; 5 blocked."
    assert returned["msg"].startswith(lines[0]) and "Cause: " in returned["msg"]
    assert "results" not in returned and SECRET not in json.dumps(returned) and TOKEN not in json.dumps(returned)
    assert "1 of 6 hosts ready; 5 blocked" in stdout and SECRET not in stdout and TOKEN not in stdout


def test_check_args_defaults_and_refusals(tmp_path):
    formats, report_dir = fleet_report.check_args({"results": {"a": {}}})
    assert formats == ["json", "junit", "md", "html"]
    assert report_dir == os.path.abspath(fleet_report.DEFAULT_DIR)
    assert fleet_report.check_args({"results": {}, "formats": "html, json,html"})[0] == ["html", "json"]
    with pytest.raises(AnsibleActionFail, match="exactly one of results .* or hosts"):
        fleet_report.check_args({})
    with pytest.raises(AnsibleActionFail, match="exactly one of results .* or hosts"):
        fleet_report.check_args({"results": {}, "hosts": ["a"]})
    with pytest.raises(AnsibleActionFail, match="hosts must be a list"):
        fleet_report.check_args({"hosts": "a,b"})
    with pytest.raises(AnsibleActionFail, match="formats: pdf not known"):
        fleet_report.check_args({"results": {}, "formats": ["pdf"]})
    with pytest.raises(AnsibleActionFail, match="unsupported option: report_path"):
        fleet_report.check_args({"results": {}, "report_path": "x"})


def test_write_atomic_replaces_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o666)
    fleet_report.write_atomic(str(target), "new \u2713")
    assert target.read_text() == "new \u2713"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["report.md"]


def test_write_atomic_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def boom(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fleet_report.os, "fsync", boom)
    with pytest.raises(OSError):
        fleet_report.write_atomic(str(target), "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


E2E = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Probe a closed port on loopback
      mailops.smtp.probe:
        profile: custom
        host: 127.0.0.1
        ports: [{port}]
        helo: probe.test
        timeout: 2
        connect_timeout: 1
        retries: 0
      register: smtp_probe
      ignore_errors: true
      ignore_unreachable: true

    - name: Write the report
      mailops.smtp.fleet_report:
        results: "{{{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
                   | map(attribute='smtp_probe', default=None))) }}}}"
        report_dir: "{report_dir}"
        formats: [json]
      run_once: true
      delegate_to: localhost
      register: rep

    - name: Keep what the task returned
      ansible.builtin.copy:
        content: "{{{{ rep | to_json }}}}"
        dest: "{report_dir}/../returned.json"
        mode: "0600"
      run_once: true
      delegate_to: localhost
"""


def test_end_to_end_with_the_probe_and_an_unreachable_host(tmp_path):
    """The documented way to collect results: a real probe on localhost, and a host that cannot be reached."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    report_dir = tmp_path / "reports"
    play = tmp_path / "play.yml"
    play.write_text(E2E.format(port=port, report_dir=report_dir))
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                         "ghost ansible_host=127.0.0.254 ansible_port=1 ansible_connection=ssh "
                         "ansible_ssh_common_args='-o ConnectTimeout=3 -o BatchMode=yes'\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"))
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(play)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    status = {(r["host"], r["port"]): (r["status"], r["diagnosis"]["code"]) for r in report["records"]}
    assert status == {("localhost", port): ("fail", "tcp_refused"), ("ghost", port): ("unreachable", "host_unreachable")}
    returned = json.loads((tmp_path / "returned.json").read_text())
    assert returned["passed"] is False and returned["summary"]["hosts_unreachable"] == 1


def test_results_from_hostvars_marks_hosts_that_left_the_play_unreachable():
    probe = {"ok": True, "ports": {"587": {"ok": True}}}
    task_vars = {
        "ansible_play_hosts": ["up", "skipped"],
        "hostvars": {"up": {"res": probe, "apps": [{"preset": "msmtp"}]}, "skipped": {}, "gone": {}},
    }
    results, apps, connector = fleet_report.from_hostvars(
        {"hosts": ["up", "skipped", "gone"], "result_var": "res", "apps_var": "apps"}, task_vars)
    assert results["up"] is probe
    # Still in the play but without a result: missing, which the report counts as failed.
    assert results["skipped"] is None
    assert results["gone"]["unreachable"] is True
    assert apps == {"up": [{"preset": "msmtp"}], "skipped": None, "gone": None}
    assert connector is None, "no host checked the connector path: no connector results"


def test_relay_upstreams_come_from_each_hosts_variable():
    task_vars = {"hostvars": {"a": {"mailops_smtp_relay_upstream": "xoauth2"}, "b": {"other": "connector"},
                              "c": {"mailops_smtp_relay_upstream": ""}}}
    args = {"hosts": ["a", "b", "c", "gone"]}
    assert fleet_report.relay_upstreams_from_hostvars(args, task_vars) == {"a": "xoauth2"}
    task_vars["hostvars"]["b"]["up"] = "connector"
    assert fleet_report.relay_upstreams_from_hostvars(dict(args, relay_upstream_var="up"), task_vars) == {
        "b": "connector"}


def test_relay_checks_come_from_each_hosts_probe_and_variables():
    via = {"preset": "grafana", "options": {"mode": "via_relay"}}
    remote = {"preset": "grafana", "options": {"mode": "via_relay", "relay_host": "198.18.0.10"}}
    hop = {"relay": {"host": "198.18.0.10", "port": 25, "security": "starttls"}, "ok": True}
    login = {"ok": True, "summary": "587 ok", "ports": {}}
    task_vars = {"hostvars": {
        "loop": {"apps": [via], "mailops_smtp_relay_upstream": "xoauth2", "login": login},
        "web": {"apps": [remote], "mailops_smtp_relay_upstream": "connector"},
        "relay1": {"ansible_host": "198.18.0.10", "smtp_relay_listen": ["198.18.0.10"],
                   "mailops_smtp_relay_upstream": "connector"},
        "plain": {"apps": [{"preset": "msmtp"}]}}}
    results = {"loop": {"ok": True, "relays": [dict(hop, relay={"host": "127.0.0.1", "port": 25})]},
               "web": {"ok": True, "relays": [hop]},
               "relay1": {"ok": True, "connector": {"ok": True, "summary": "25 ok"}}, "plain": {"ok": True}}
    args = {"hosts": ["loop", "web", "relay1", "plain", "gone"], "apps_var": "apps", "relay_result_var": "login"}
    relay = fleet_report.relay_from_hostvars(args, task_vars, results)
    assert relay["loop"]["upstream"]["mode"] == "xoauth2" and relay["loop"]["upstream"]["result"] == login
    assert relay["loop"]["hops"][0]["relay_inventory_host"] is None
    # The application host of a designated relay checks the hop; the relay host (by ansible_host) its upstream.
    assert relay["web"] == {"hops": [dict(hop, relay_inventory_host="relay1")], "upstream": None}
    assert relay["relay1"]["upstream"]["mode"] == "connector"
    assert relay["relay1"]["upstream"]["result"] == {"ok": True, "summary": "25 ok"}
    assert set(relay) == {"loop", "web", "relay1"}
    # The host's own smtp_relay_upstream says it runs a relay, as the role's check reads it.
    task_vars["hostvars"]["plain"]["smtp_relay_upstream"] = "basic"
    assert fleet_report.relay_from_hostvars(args, task_vars, results)["plain"]["upstream"]["mode"] == "basic"
    del task_vars["hostvars"]["plain"]["smtp_relay_upstream"]
    task_vars["hostvars"]["web"]["mailops_smtp_relay_upstream"] = "nope"
    task_vars["hostvars"]["web"]["smtp_relay_listen"] = ["198.18.0.11"]
    # A wrong value is the probe task's to refuse (the filter says what to set); the report goes on without it.
    assert fleet_report.relay_from_hostvars(args, task_vars, results)["web"]["upstream"] is None


def test_connector_results_from_hostvars_leave_skipped_and_missing_hosts_not_checked():
    probe = {"ok": True, "ports": {"587": {"ok": True}}}
    reach = {"ok": True, "summary": "25 ok"}
    blocked = {"ok": False, "summary": "25 tcp_timeout"}
    task_vars = {"ansible_play_hosts": ["a", "b", "c", "d"],
                 "hostvars": {"a": {"res": probe, "conn": reach}, "b": {"res": probe, "conn": blocked},
                              "c": {"res": probe, "conn": {"skipped": True, "changed": False}},
                              "d": {"res": probe}}}
    _results, _apps, connector = fleet_report.from_hostvars(
        {"hosts": ["a", "b", "c", "d"], "result_var": "res", "connector_var": "conn"}, task_vars)
    assert connector == {"a": reach, "b": blocked}


def test_connector_results_carried_by_the_probe_results():
    reach = {"ok": True, "summary": "25 ok", "ports": {"25": {"ok": True}}}
    blocked = {"ok": False, "summary": "25 failed at connect: tcp_refused", "ports": {"25": {"ok": False}}}
    task_vars = {"ansible_play_hosts": ["a", "b", "c"],
                 "hostvars": {"a": {"res": {"ok": True, "ports": {}, "connector": reach}},
                              "b": {"res": {"ok": True, "ports": {}, "connector": blocked}},
                              "c": {"res": {"ok": True, "ports": {}}},
                              # A separate result an earlier run left is not read without connector_var.
                              "d": {"res": {"ok": True, "ports": {}}, "conn": reach}}}
    _results, _apps, connector = fleet_report.from_hostvars(
        {"hosts": ["a", "b", "c", "d"], "result_var": "res"}, task_vars)
    assert connector == {"a": reach, "b": blocked}


def test_auth_hosts_keeps_an_auth_result_left_by_an_earlier_run_out():
    conn = {"ok": True, "summary": "587 ok", "ports": {"587": {"ok": True, "stages": ["ehlo"]}}}
    stale = {"ok": False, "summary": "587 auth_failed", "ports": {"587": {"ok": False, "stages": ["auth"]}}}
    task_vars = {"ansible_play_hosts": ["web1", "web2"],
                 "hostvars": {"web1": {"res": conn, "auth": stale}, "web2": {"res": conn, "auth": stale}}}
    args = {"hosts": ["web1", "web2"], "result_var": "res", "auth_result_var": "auth"}
    results, _apps, _conn = fleet_report.from_hostvars(dict(args, auth_hosts=["web2"]), task_vars)
    assert results["web1"] is conn
    assert results["web2"]["ok"] is False and results["web2"]["ports"]["587"]["stages"] == ["auth"]
    # No host checked AUTH in this run: every left-over result is ignored.
    results, _apps, _conn = fleet_report.from_hostvars(dict(args, auth_hosts=[]), task_vars)
    assert results == {"web1": conn, "web2": conn}
    # Without auth_hosts (the plugin used on its own), every host's AUTH result counts.
    results, _apps, _conn = fleet_report.from_hostvars(args, task_vars)
    assert results["web1"]["ok"] is False and results["web2"]["ok"] is False


def test_auth_hosts_must_be_a_list():
    with pytest.raises(AnsibleActionFail, match="auth_hosts must be a list"):
        fleet_report.check_args({"hosts": ["web1"], "auth_hosts": "web1"})


def test_auth_result_replaces_only_its_ports_and_both_must_pass():
    conn = {"ok": True, "summary": "587 ok; 465 not offered",
            "ports": {"587": {"ok": True, "stages": ["ehlo"]}, "465": {"ok": False, "expected": "not_offered"}}}
    auth = {"ok": False, "summary": "587 auth_failed", "ports": {"587": {"ok": False, "stages": ["auth"]}}}
    merged = fleet_report.merge_auth(conn, auth)
    assert merged["ports"]["587"]["stages"] == ["auth"] and merged["ports"]["465"]["expected"] == "not_offered"
    assert merged["ok"] is False and "AUTH: 587 auth_failed" in merged["summary"]
    assert conn["ports"]["587"]["stages"] == ["ehlo"], "the connectivity result itself is left alone"
    # A skipped AUTH task (no ports) or an unreachable host keeps the connectivity result.
    assert fleet_report.merge_auth(conn, {"skipped": True}) is conn
    assert fleet_report.merge_auth({"unreachable": True}, auth) == {"unreachable": True}
    # An AUTH check that could not start at all (bad input) fails the host, with the probe's reason.
    # The role registers it with failed_when: false, which clears `failed` but keeps the message.
    for res in ({"failed": True, "msg": "auth.username must not contain CR, LF or NUL"},
                {"failed": False, "changed": False, "msg": "auth.username must not contain CR, LF or NUL"}):
        assert fleet_report.merge_auth(conn, res) == {
            "failed": True, "msg": "the AUTH check could not run: auth.username must not contain CR, LF or NUL"}
