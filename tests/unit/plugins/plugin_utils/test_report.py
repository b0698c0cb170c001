# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's data: records, summary, findings, readiness, scrubbing, and the JSON schema.

`fleet()` is the lab's five hosts plus one unreachable one, as mailops.smtp.probe
returns them; the other test_report_* modules import it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest

from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import diagnosis
from ansible_collections.mailops.smtp.plugins.plugin_utils import _report, _report_html, _report_md

REPO = Path(__file__).resolve().parents[4]
SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text())
GENERATED = "2026-05-04T09:30:00Z"
VIA_RELAY = {"mode": "via_relay"}
HOSTS = ["app1", "app2", "app3", "app4", "app5", "app6"]
SECRET = "Sup3r-S3cret-pw!"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.fake-token-value"

EHLO_PRE = ["SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "8BITMIME",
            "BINARYMIME", "CHUNKING", "SMTPUTF8"]
EHLO_TLS = ["SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "AUTH LOGIN XOAUTH2", "8BITMIME",
            "BINARYMIME", "CHUNKING", "SMTPUTF8"]


def _dns(ok=True, ms=3):
    if ok:
        return {"name": "dns", "ok": True, "ms": ms, "detail": "smtp.office365.com -> 127.0.0.53"}
    return {"name": "dns", "ok": False, "ms": ms,
            "detail": "smtp.office365.com: [Errno -2] Name or service not known"}


def _cert(days_left=214):
    return {"subject": "CN=outlook.com", "san": ["*.office365.com", "smtp.office365.com", "outlook.com"],
            "issuer": "CN=DigiCert Cloud Services CA-1", "not_after": "2026-12-04T23:59:59Z",
            "days_left": days_left, "chain_trusted": True, "hostname_match": True}


def port_ok(slow=1, days_left=214, diag=None):
    s = slow
    return {
        "ok": True, "security": "starttls", "expected": "open", "address": "127.0.0.53",
        "stages": [
            _dns(ms=3 * s),
            {"name": "connect", "ok": True, "ms": 2 * s, "detail": "connected to 127.0.0.53 port 587"},
            {"name": "banner", "ok": True, "ms": 41 * s,
             "detail": "220 AM0PR02CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready"},
            {"name": "ehlo", "ok": True, "ms": 12 * s, "detail": "250 AM0PR02CA0001 Hello | " + ", ".join(EHLO_PRE)},
            {"name": "starttls", "ok": True, "ms": 11 * s, "detail": "220 2.0.0 SMTP server ready"},
            {"name": "tls", "ok": True, "ms": 28 * s, "detail": "TLSv1.3 TLS_AES_256_GCM_SHA384"},
            {"name": "ehlo_tls", "ok": True, "ms": 13 * s,
             "detail": "250 AM0PR02CA0001 Hello | " + ", ".join(EHLO_TLS)},
        ],
        "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "cert": _cert(days_left)},
        "extensions": EHLO_TLS, "auth_mechanisms": ["LOGIN", "XOAUTH2"], "auth": None, "diagnosis": diag,
    }


def port_465_not_offered(connect_ms=1500):
    return {
        "ok": False, "security": "tls", "expected": "not_offered", "address": "127.0.0.53",
        "stages": [_dns(), {"name": "connect", "ok": False, "ms": connect_ms, "detail": "timed out"}],
        "tls": None, "extensions": [], "auth_mechanisms": [], "auth": None,
        "diagnosis": diagnosis("port_not_offered"),
    }


def port_failed_connect(code, detail, ms):
    return {
        "ok": False, "security": "starttls", "expected": "open", "address": "127.0.0.53",
        "stages": [_dns(), {"name": "connect", "ok": False, "ms": ms, "detail": detail}],
        "tls": None, "extensions": [], "auth_mechanisms": [], "auth": None, "diagnosis": diagnosis(code),
    }


def port_dns_failure(port):
    return {
        "ok": False, "security": "starttls" if port == "587" else "tls",
        "expected": "open" if port == "587" else "not_offered", "address": None, "stages": [_dns(False, 5000)],
        "tls": None, "extensions": [], "auth_mechanisms": [], "auth": None, "diagnosis": diagnosis("dns_failure"),
    }


def result(ports, ok, summary, oauth_ok=True, oauth_code=None):
    return {"changed": False, "ok": ok, "summary": summary, "elapsed_ms": 1520,
            "oauth_endpoint": {"ok": oauth_ok, "ms": 61, "diagnosis": diagnosis(oauth_code) if oauth_code else None},
            "ports": ports}


def fleet():
    """The lab: clean, 587 dropped, 587 rejected, slow, no DNS; plus one host Ansible could not reach."""
    return {
        "app1": result({"587": port_ok(), "465": port_465_not_offered()}, True,
                       "587 ok (STARTTLS TLSv1.3); 465 not offered by this endpoint (expected)"),
        "app2": dict(result({"587": port_failed_connect("tcp_timeout", "timed out", 5002),
                             "465": port_465_not_offered()}, False,
                            "587 failed at connect: tcp_timeout (The connection timed out: silently dropped); "
                            "465 not offered by this endpoint (expected)"),
                     failed=True, msg="587 failed at connect: tcp_timeout"),
        "app3": result({"587": port_failed_connect("tcp_refused", "[Errno 111] Connection refused", 1),
                        "465": port_465_not_offered()}, False,
                       "587 failed at connect: tcp_refused (The connection was refused); "
                       "465 not offered by this endpoint (expected)"),
        "app4": result({"587": port_ok(slow=25, days_left=21, diag=diagnosis("cert_expiring")),
                        "465": port_465_not_offered()}, True,
                       "587 ok (STARTTLS TLSv1.3); warning: certificate expiring; 465 not offered (expected)"),
        "app5": result({"587": port_dns_failure("587"), "465": port_dns_failure("465")}, False,
                       "587 failed at dns: dns_failure; 465 failed at dns: dns_failure",
                       oauth_ok=False, oauth_code="dns_failure"),
        "app6": {"unreachable": True, "changed": False,
                 "msg": "Failed to connect to the host via ssh: ssh: connect to host 198.18.0.16 port 22: "
                        "Connection timed out"},
    }


APPS = {"app1": ["msmtp"], "app4": ["postfix", {"preset": "grafana"}]}
CONNECTOR = {"app4": {"ok": True, "summary": "25 ok (STARTTLS TLSv1.3)", "ports": {}}}


def build(**kw):
    args = dict(apps=APPS, connector=CONNECTOR, max_fail_percentage=0, title="Contoso mail readiness",
                generated=GENERATED)
    args.update(kw)
    return _report.build_report(fleet(), **args)


def by(report, host, port):
    return [r for r in report["records"] if r["host"] == host and r["port"] == port][0]


def test_json_validates_against_the_schema():
    report = build()
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_a_record_without_its_diagnosis_field():
    report = json.loads(json.dumps(build()))
    del report["records"][0]["diagnosis"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_one_record_per_host_and_port_with_the_right_codes():
    report = build()
    assert len(report["records"]) == 12
    assert sorted(set(r["host"] for r in report["records"])) == HOSTS
    expect = {("app1", 587): ("pass", None), ("app1", 465): ("info", "port_not_offered"),
              ("app2", 587): ("fail", "tcp_timeout"), ("app3", 587): ("fail", "tcp_refused"),
              ("app4", 587): ("warn", "cert_expiring"), ("app5", 587): ("fail", "dns_failure"),
              ("app5", 465): ("fail", "dns_failure"), ("app6", 587): ("unreachable", "host_unreachable"),
              ("app6", 465): ("unreachable", "host_unreachable")}
    for (host, port), (status, code) in expect.items():
        r = by(report, host, port)
        assert r["status"] == status, (host, port)
        assert (r["diagnosis"] or {}).get("code") == code, (host, port)
    app2 = by(report, "app2", 587)
    assert app2["failed_stage"] == "connect"
    assert [s["name"] for s in app2["stages"]] == ["dns", "connect"]
    assert app2["diagnosis"]["fix"].startswith("Open outbound TCP 587")
    slow = by(report, "app4", 587)
    assert slow["elapsed_ms"] == 25 * (3 + 2 + 41 + 12 + 11 + 28 + 13)
    assert slow["cert_days_left"] == 21 and slow["tls"]["version"] == "TLSv1.3"
    assert "Connection timed out" in by(report, "app6", 587)["message"]


def test_summary_counts_and_verdict():
    s = build()["summary"]
    assert (s["hosts"], s["hosts_ok"], s["hosts_failed"], s["hosts_unreachable"]) == (6, 2, 4, 1)
    assert (s["hosts_ready"], s["hosts_not_ready"]) == (1, 5)
    assert s["headline"] == "1 of 6 hosts ready; 5 blocked"
    assert s["fail_percentage"] == 66.67 and s["passed"] is False
    assert s["records_by_status"] == {"fail": 4, "unreachable": 2, "warn": 1, "info": 4, "pass": 1}
    assert s["cert_min_days_left"] == 21
    assert "FAILED" in s["verdict"] and "4 failed, 1 of them unreachable; 66.67% failed, 0% allowed" in s["verdict"]
    assert build(max_fail_percentage=70)["summary"]["passed"] is True
    assert build(max_fail_percentage=66)["summary"]["passed"] is False


def test_findings_grouped_by_diagnosis_failures_first():
    findings = build()["findings"]
    codes = [f["code"] for f in findings]
    assert set(codes) == {"tcp_timeout", "tcp_refused", "dns_failure", "host_unreachable", "cert_expiring",
                          "port_not_offered"}
    assert codes[-2:] == ["cert_expiring", "port_not_offered"]
    dns = [f for f in findings if f["code"] == "dns_failure"][0]
    assert dns["hosts"] == ["app5"] and dns["ports"] == [587, 465] and dns["host_count"] == 1
    not_offered = [f for f in findings if f["code"] == "port_not_offered"][0]
    assert not_offered["severity"] == "info" and not_offered["hosts"] == ["app1", "app2", "app3", "app4"]
    assert not_offered["text"].startswith("4 hosts: 465 The endpoint does not offer this port; fix: ")
    timeout = [f for f in findings if f["code"] == "tcp_timeout"][0]
    assert timeout["text"].startswith("1 host: 587 The connection timed out: silently dropped; fix: Open outbound")


def test_readiness_per_host():
    hosts = {h["host"]: h for h in build()["hosts"]}
    assert hosts["app1"]["readiness"]["ready"] is True
    # Each row also names the app's path (issue 20 section 3); msmtp's depends on the credential, not given here.
    assert hosts["app1"]["readiness"]["apps"] == [{
        "name": "msmtp", "oauth": True, "note": None, "path": "direct_unknown", "path_label": "direct (login not known)",
        "works_now": True, "survives_retirement": None}]

    def codes(h):
        return [r["code"] for r in hosts[h]["readiness"]["reasons"]]
    assert codes("app2") == ["submission_port_failed"]
    assert "tcp_timeout" in hosts["app2"]["readiness"]["reasons"][0]["text"]
    assert codes("app4") == ["app_without_oauth", "app_without_oauth"]
    assert hosts["app4"]["readiness"]["connector"] == {"reachable": True, "summary": "25 ok (STARTTLS TLSv1.3)"}
    assert codes("app5") == ["oauth_endpoint_unreachable", "submission_port_failed"]
    assert codes("app6") == ["host_unreachable"]
    assert hosts["app3"]["readiness"]["apps"] is None and hosts["app3"]["readiness"]["connector"] is None
    report = build()
    assert all(r["ready"] == (r["host"] == "app1") for r in report["records"])
    grouped = {g["code"]: g["hosts"] for g in report["readiness_findings"]}
    assert grouped["submission_port_failed"] == ["app2", "app3", "app5"]


def test_xoauth2_must_be_offered_after_starttls():
    results = fleet()
    port = results["app1"]["ports"]["587"]
    port["auth_mechanisms"] = ["LOGIN"]
    report = _report.build_report(results, generated=GENERATED)
    reasons = [h for h in report["hosts"] if h["host"] == "app1"][0]["readiness"]["reasons"]
    assert [r["code"] for r in reasons] == ["xoauth2_not_offered"] and "LOGIN" in reasons[0]["text"]
    # XOAUTH2 seen before TLS only (the after-TLS EHLO failed) does not count.
    results = fleet()
    port = results["app1"]["ports"]["587"]
    port["stages"] = port["stages"][:-1] + [dict(port["stages"][-1], ok=False)]
    report = _report.build_report(results, generated=GENERATED)
    app1 = [h for h in report["hosts"] if h["host"] == "app1"][0]
    assert [r["code"] for r in app1["readiness"]["reasons"]] == ["submission_port_failed"]


def test_without_oauth_check_and_with_connector_postfix_and_generic_apps():
    results = fleet()
    del results["app1"]["oauth_endpoint"]
    apps = {"app1": [{"preset": "postfix", "options": {"mode": "connector"}}, {"format": "env"}, "spring"]}
    report = _report.build_report(results, apps=apps, generated=GENERATED)
    app1 = [h for h in report["hosts"] if h["host"] == "app1"][0]["readiness"]
    assert [r["code"] for r in app1["reasons"]] == [
        "oauth_endpoint_not_checked", "app_without_oauth", "app_without_oauth"]
    assert [a["oauth"] for a in app1["apps"]] == [True, False, False]
    assert "generic env file" in app1["reasons"][1]["text"]


def test_an_app_via_relay_is_as_ready_as_its_relays_upstream():
    via = {"mode": "via_relay"}
    apps = [{"preset": "grafana", "options": via}, {"format": "env", "options": via},
            {"preset": "postfix", "options": dict(via, relay_host="relay1")}]
    results = {h: fleet()["app1"] for h in ("xo", "conn", "basic", "unknown")}
    report = _report.build_report(results, apps=dict((h, apps) for h in results), generated=GENERATED,
                                  relay_upstream={"xo": "xoauth2", "conn": "connector", "basic": "basic"})
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)
    hosts = {h["host"]: h["readiness"] for h in report["hosts"]}
    for ready in ("xo", "conn"):
        assert hosts[ready]["ready"] is True and hosts[ready]["reasons"] == []
        assert [a["name"] for a in hosts[ready]["apps"]] == ["grafana (via relay)", "env (via relay)",
                                                             "postfix (via relay)"]
    assert "upstream is connector" in hosts["conn"]["apps"][0]["note"]
    for blocked, says in (("basic", "upstream is basic"), ("unknown", "set mailops_smtp_relay_upstream")):
        assert hosts[blocked]["ready"] is False
        assert [r["code"] for r in hosts[blocked]["reasons"]] == ["relay_without_oauth"] * 3
        assert hosts[blocked]["reasons"][0]["text"].startswith("grafana (via relay) sends through a relay")
        assert says in hosts[blocked]["reasons"][0]["text"]
    grouped = {g["code"]: g["hosts"] for g in report["readiness_findings"]}
    assert grouped == {"relay_without_oauth": ["basic", "unknown"]}
    # The host's own checks still count: a relay on the host reaches Microsoft 365 from it.
    results["xo"] = copy.deepcopy(results["xo"])
    del results["xo"]["oauth_endpoint"]
    report = _report.build_report(results, apps={"xo": apps}, relay_upstream={"xo": "xoauth2"}, generated=GENERATED)
    xo = [h for h in report["hosts"] if h["host"] == "xo"][0]["readiness"]
    assert [r["code"] for r in xo["reasons"]] == ["oauth_endpoint_not_checked"]
    with pytest.raises(_report.ReportInputError, match="relay_upstream must be a dict"):
        _report.build_report(results, relay_upstream=["xoauth2"])


def test_oauth_table_matches_the_settings_presets():
    presets = pytest.importorskip("ansible_collections.mailops.smtp.plugins.module_utils._presets")
    assert _report.OAUTH_PRESETS == {name: meta["oauth"] for name, meta in presets.PRESETS.items()}


def test_failed_skipped_and_missing_results_count_as_failed():
    results = {"ok1": fleet()["app1"], "broke": {"failed": True, "msg": "ca_path /x/ca.pem does not exist"},
               "skip": {"skipped": True, "skip_reason": "Conditional result was False"}, "none": None}
    report = _report.build_report(results, max_fail_percentage=75, generated=GENERATED)
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert status == {"broke": "failed", "none": "failed", "ok1": "ok", "skip": "failed"}
    assert by(report, "broke", 587)["diagnosis"]["code"] == "probe_failed"
    assert "ca_path /x/ca.pem" in by(report, "broke", 587)["diagnosis"]["cause"]
    assert by(report, "skip", 465)["diagnosis"]["code"] == "probe_missing"
    assert report["summary"]["hosts_failed"] == 3 and report["summary"]["passed"] is True
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("bad, words", [
    ({}, "non-empty dict"), ([1], "non-empty dict"), ("x", "non-empty dict")])
def test_bad_results_are_refused(bad, words):
    with pytest.raises(_report.ReportInputError, match=words):
        _report.build_report(bad)


@pytest.mark.parametrize("pct", [-1, 101, "lots"])
def test_bad_max_fail_percentage_is_refused(pct):
    with pytest.raises(_report.ReportInputError, match="max_fail_percentage"):
        _report.build_report(fleet(), max_fail_percentage=pct)


def poisoned():
    """A fleet whose input carries secrets in every place a careless caller could put them."""
    results = fleet()
    results["app1"]["invocation"] = {"module_args": {"auth": {"username": "svc@contoso.com", "password": SECRET}}}
    results["app1"]["ports"]["587"]["auth"] = {"mechanism": "XOAUTH2", "ok": True, "reply": "235 2.7.0",
                                               "access_token": TOKEN, "password": SECRET}
    results["app1"]["client_secret"] = SECRET
    results["app1"]["token"] = TOKEN
    results["app2"]["ports"]["587"]["stages"][1]["detail"] = "sent AUTH XOAUTH2 dXNlcj1zdmNAY29udG9zby5jb20BYXV0aD1C"
    results["app3"]["ports"]["587"]["stages"][1]["detail"] = "header Authorization: Bearer " + TOKEN
    results["app3"]["summary"] = "user=svc@contoso.com\x01auth=Bearer " + TOKEN
    results["app6"]["msg"] = "login failed: password=" + SECRET + " token: " + TOKEN
    results["app6"]["password"] = SECRET
    return results


def test_scrub_hides_secret_keys_and_bearer_text():
    out = _report.scrub(poisoned())
    text = json.dumps(out)
    assert SECRET not in text
    assert TOKEN not in text
    assert "invocation" not in out["app1"]
    assert out["app1"]["ports"]["587"]["auth"]["password"] == _report.HIDDEN
    assert out["app1"]["client_secret"] == _report.HIDDEN
    assert "dXNlcj1zdmNAY29udG9zby5jb20BYXV0aD1C" not in text


def test_report_never_contains_a_secret_from_secret_keys():
    results = poisoned()
    report = _report.build_report(results, generated=GENERATED)
    text = json.dumps(report)
    assert SECRET not in text and TOKEN not in text
    assert by(report, "app1", 587)["auth"] == {"mechanism": "XOAUTH2", "ok": True, "reply": "235 2.7.0"}


def test_input_is_not_modified():
    results = fleet()
    before = copy.deepcopy(results)
    build()
    _report.build_report(results, generated=GENERATED)
    assert results == before


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_real_probe_result_fits_the_report():
    """Guards the input shape: the probe itself, against a closed port on loopback."""
    endpoint = pytest.importorskip("ansible_collections.mailops.smtp.plugins.module_utils.endpoint")
    smtp_probe = pytest.importorskip("ansible_collections.mailops.smtp.plugins.module_utils.smtp_probe")
    port = _free_port()
    plan = endpoint.build_plan({"profile": "custom", "host": "127.0.0.1", "ports": [port], "helo": "probe.test",
                                "timeout": 2, "connect_timeout": 1, "retries": 0})
    res = smtp_probe.run_probe(plan, sleep=lambda s: None, backoff_base=0.01)
    report = _report.build_report({"real": res}, generated=GENERATED)
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)
    record = report["records"][0]
    assert (record["port"], record["status"], record["diagnosis"]["code"]) == (port, "fail", "tcp_refused")
    assert record["failed_stage"] == "connect"
    # custom has no token authority: XOAUTH2 readiness does not apply, rather than "blocked" (issue 17).
    readiness = report["hosts"][0]["readiness"]
    assert (readiness["status"], readiness["ready"], readiness["reasons"]) == ("not_applicable", False, [])
    assert report["hosts"][0]["endpoint"] == {"apps_port": port, "oauth_authority": None}
    assert report["summary"]["headline"] == "0 of 1 hosts ready; 0 blocked; 1 not applicable"


# -- issue 17: a report that never misleads -----------------------------------------------------------

def _custom(ok=True, first="10587"):
    res = result({first: port_ok(), "10465": dict(port_ok(), security="tls")}, ok, "both ok")
    res.pop("oauth_endpoint")
    res["endpoint"] = {"profile": "custom", "host": "smtp.example.net", "apps_port": int(first),
                       "oauth_authority": None}
    return res


def test_an_endpoint_without_a_token_authority_is_not_applicable_not_blocked():
    report = _report.build_report({"a": _custom(), "b": _custom(), "c": {"unreachable": True, "msg": "ssh"}},
                                  generated=GENERATED)
    jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    s = report["summary"]
    assert s["headline"] == "0 of 3 hosts ready; 0 blocked; 3 not applicable"
    assert (s["hosts_blocked"], s["hosts_not_applicable"], s["hosts_not_ready"]) == (0, 3, 3)
    assert {h["readiness"]["status"] for h in report["hosts"]} == {"not_applicable"}
    assert report["readiness_findings"] == []


def test_readiness_names_the_endpoint_port_and_the_profile_authority():
    res = result({"10587": port_failed_connect("tcp_refused", "refused", 1)}, False, "10587 failed",
                 oauth_ok=False, oauth_code="tcp_timeout")
    res["endpoint"] = {"profile": "m365_gcc_high", "host": "smtp.office365.us", "apps_port": 10587,
                       "oauth_authority": "https://login.microsoftonline.us"}
    report = _report.build_report({"gov": res}, generated=GENERATED)
    texts = [r["text"] for r in report["hosts"][0]["readiness"]["reasons"]]
    assert texts == ["the token endpoint (login.microsoftonline.us on 443) is not reachable over TLS (tcp_timeout)",
                     "port 10587 does not get through TLS and EHLO (tcp_refused)"]
    assert "587 fails" not in _report_md.summary_table(report).replace("10587", "")
    assert "no: no token endpoint, 10587 fails" in _report_md.summary_table(report)


def test_the_message_leads_with_the_verdict_and_the_real_cause():
    report = _report.build_report(fleet(), generated=GENERATED)
    s = report["summary"]
    assert s["cause"].startswith("dns_failure, 1 host: 587, 465 The mail server name does not resolve")
    msg = _report.lead(s)
    assert msg.startswith(s["verdict"] + ". Cause: dns_failure") and msg.endswith(
        "XOAUTH2 readiness: 2 of 6 hosts ready; 4 blocked.")
    passing = _report.build_report({"app1": fleet()["app1"]}, generated=GENERATED)
    assert passing["summary"]["cause"] is None and "Cause" not in _report.lead(passing["summary"])


def test_a_probe_failure_hidden_by_failed_when_is_not_a_missing_result():
    missing_ca = {"changed": False, "failed": False, "failed_when_result": False, "ok": False,
                  "msg": "ca_path /nonexistent/ca.pem does not exist on this host; give the path of a file",
                  "diagnosis": diagnosis("local_file_unusable")}
    refused = {"changed": False, "failed": False, "failed_when_result": False,
               "msg": "unsupported parameter for module: bogus"}
    report = _report.build_report({"h1": missing_ca, "h2": refused, "h3": fleet()["app1"]}, generated=GENERATED)
    jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    codes = {(r["host"], r["diagnosis"]["code"]) for r in report["records"] if r["host"] != "h3"}
    assert codes == {("h1", "local_file_unusable"), ("h2", "probe_failed")}
    h1 = [h for h in report["hosts"] if h["host"] == "h1"][0]
    assert [r["code"] for r in h1["readiness"]["reasons"]] == ["probe_failed"]
    finding = [f for f in report["findings"] if f["code"] == "local_file_unusable"][0]
    assert "/nonexistent/ca.pem" in finding["cause"] and finding["ports"] == [587, 465]
    table = _report_md.summary_table(report)
    assert "host unreachable" not in table and "local_file_unusable" in table


def test_a_credential_that_could_not_be_fetched_fails_the_verdict():
    vault_error = {"failed": False, "failed_when_result": False, "changed": False,
                   "msg": "Vault has no secret at secret/smtp/nope (404); check the path"}
    report = _report.build_report({"app1": fleet()["app1"]}, credential=vault_error, generated=GENERATED)
    jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    cred = report["credential"]
    assert cred["ok"] is False and cred["diagnosis"]["code"] == "credential_unavailable"
    assert "secret/smtp/nope (404)" in cred["diagnosis"]["cause"]
    s = report["summary"]
    assert s["passed"] is False and s["verdict"].endswith("; the login could not be checked: FAILED")
    assert s["cause"] == "credential_unavailable: Vault has no secret at secret/smtp/nope (404); check the path"
    fetched = {"changed": False, "credential": {"type": "basic", "username": "u", "password": SECRET}}
    ok = _report.build_report({"app1": fleet()["app1"]}, credential=fetched, generated=GENERATED)
    assert ok["credential"] == {"ok": True, "diagnosis": None} and ok["summary"]["passed"] is True
    assert SECRET not in json.dumps(ok)
    assert _report.build_report({"app1": fleet()["app1"]}, generated=GENERATED)["credential"] is None


def test_the_login_column_shows_a_result_only_where_a_login_was_tried():
    res = copy.deepcopy(fleet()["app1"])
    res["ports"]["587"]["auth"] = {"mechanism": "LOGIN", "ok": False, "reply": "535 5.7.3 Authentication unsuccessful"}
    res["ports"]["587"]["ok"] = False
    res["ports"]["587"]["stages"].append({"name": "auth", "ok": False, "ms": 30,
                                          "detail": "535 5.7.3 Authentication unsuccessful"})
    res["ports"]["587"]["diagnosis"] = diagnosis("auth_failed")
    report = _report.build_report({"app1": res}, generated=GENERATED)
    cells = {r["port"]: _report.login_cell(r) for r in report["records"]}
    assert cells == {587: "auth_failed (LOGIN)", 465: "-"}
    md = _report_md.render(report)
    assert "| app1 | 587 | FAILED: auth_failed | auth | auth_failed (LOGIN) |" in md
    assert "| app1 | 465 | not offered (expected) | connect | - |" in md
    html = _report_html.render(report)
    # A code where the login was tried, a dash (no tick) where it was not.
    assert re.findall(r'<td class="st (\w+)"[^>]*title="Login: ', html) == ["bad", "none"]


# -- issue 20 section 3: the relay's hop and upstream, each application's path ------------------------

def _hop(host="127.0.0.1", port=25, ok=True, code=None, message=None, relay_inventory_host=None):
    hop = {"relay": {"host": host, "port": port, "security": "none" if host == "127.0.0.1" else "starttls"},
           "ok": ok, "summary": "25 ok (no TLS)" if ok else "25 failed at connect: tcp_refused",
           "ports": {}, "diagnosis": None if ok else diagnosis(code), "message": message}
    if relay_inventory_host:
        hop["relay_inventory_host"] = relay_inventory_host
    return hop


def _login(ok=True):
    summary = "587 ok (STARTTLS TLSv1.3, AUTH XOAUTH2 235 2.7.0)" if ok else "587 failed at auth: auth_failed"
    return {"ok": ok, "summary": summary,
            "ports": {"587": {"ok": ok, "diagnosis": None if ok else diagnosis("auth_failed")}}}


def _relay_report(relay, apps, upstreams, **kw):
    results = {h: fleet()["app1"] for h in apps}
    return _report.build_report(results, apps=apps, relay_upstream=upstreams, relay=relay, generated=GENERATED, **kw)


def _paths(report):
    return {(h["host"], a["name"]): (a["path"], a["works_now"], a["survives_retirement"])
            for h in report["hosts"] for a in h["readiness"]["apps"] or []}


def test_a_loopback_relay_works_when_its_hop_and_its_upstream_do():
    grafana, django = {"preset": "grafana", "options": VIA_RELAY}, {"preset": "django", "options": VIA_RELAY}
    apps = {"ok": [grafana], "hopless": [grafana], "nologin": [grafana], "unchecked": [django]}
    relay = {"ok": {"hops": [_hop()], "upstream": {"mode": "xoauth2", "result": _login()}},
             "hopless": {"hops": [_hop(ok=False, code="relay_unreachable", message="the relay at 127.0.0.1:25 "
                                       "refused the connection: run the mailops.smtp.relay playbook on this host")],
                         "upstream": {"mode": "xoauth2", "result": _login()}},
             "nologin": {"hops": [_hop()], "upstream": {"mode": "xoauth2", "result": _login(ok=False)}},
             "unchecked": {"hops": [_hop()], "upstream": {"mode": "xoauth2", "result": None, "why_not": "no creds"}}}
    report = _relay_report(relay, apps, dict((h, "xoauth2") for h in apps))
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)
    assert _paths(report) == {
        ("ok", "grafana (via relay)"): ("relay_xoauth2", True, True),
        ("hopless", "grafana (via relay)"): ("relay_xoauth2", False, True),
        ("nologin", "grafana (via relay)"): ("relay_xoauth2", False, True),
        ("unchecked", "django (via relay)"): ("relay_xoauth2", None, True)}
    hosts = {h["host"]: h for h in report["hosts"]}
    # A failed hop or a failed upstream login fails the host; an upstream not checked does not.
    assert [(h, hosts[h]["ok"], hosts[h]["status"]) for h in sorted(hosts)] == [
        ("hopless", False, "failed"), ("nologin", False, "failed"), ("ok", True, "ok"), ("unchecked", True, "ok")]
    assert "refused the connection" in hosts["hopless"]["summary"]
    assert "the relay's xoauth2 upstream fails" in hosts["nologin"]["summary"]
    unchecked = {"mode": "xoauth2", "checked": False, "ok": None, "diagnosis": None, "summary": "no creds"}
    assert hosts["unchecked"]["relay"]["upstream"] == unchecked
    found = {f["code"]: f["hosts"] for f in report["findings"]}
    assert found["relay_unreachable"] == ["hopless"] and found["auth_failed"] == ["nologin"]
    assert report["summary"]["hosts_failed"] == 2 and report["summary"]["passed"] is False
    md = _report_md.render(report)
    assert "| ok | grafana (via relay) | relay \u2192 xoauth2 | yes | yes |" in md
    assert "| hopless | grafana (via relay) | relay \u2192 xoauth2 | no | yes |" in md
    assert "| unchecked | django (via relay) | relay \u2192 xoauth2 | not checked | yes |" in md
    assert "| hopless | relay 127.0.0.1:25 | FAILED: relay_unreachable | the relay at 127.0.0.1:25 refused" in md
    html = _report_html.render(report)
    assert 'id="paths-table"' in html and "relay \u2192 xoauth2" in html
    from ansible_collections.mailops.smtp.plugins.plugin_utils import _report_junit
    junit = _report_junit.render(report)
    assert 'name="hopless relay 127.0.0.1:25"' in junit and 'type="relay_unreachable"' in junit
    assert 'name="unchecked relay upstream xoauth2"' in junit


def test_a_designated_relay_lends_its_upstream_check_to_the_app_hosts():
    remote = {"preset": "grafana", "options": dict(VIA_RELAY, relay_host="198.18.0.10")}
    apps = {"web1": [remote], "web2": [remote], "relay1": [], "mx": []}
    relay = {"web1": {"hops": [_hop("198.18.0.10", relay_inventory_host="relay1")]},
             "web2": {"hops": [_hop("198.18.0.10")]},
             "relay1": {"hops": [], "upstream": {"mode": "connector", "result": {"ok": False, "summary": "25 failed",
                                                                                 "ports": {}}}}}
    report = _relay_report(relay, apps, {"web1": "connector", "web2": "connector", "relay1": "connector"})
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)
    paths = _paths(report)
    assert paths[("web1", "grafana (via relay)")] == ("relay_connector", False, True)
    # No inventory host is known to run web2's relay: its upstream is not checked, so neither is the path.
    assert paths[("web2", "grafana (via relay)")] == ("relay_connector", None, True)
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["relay1"]["ok"] is False and hosts["web1"]["ok"] is True and hosts["mx"]["relay"] is None


def test_direct_paths_come_from_the_credential_type_and_the_hosts_own_checks():
    apps = {"a": ["msmtp", {"preset": "grafana"}, {"preset": "postfix", "options": {"mode": "connector"}}]}
    report = _relay_report(None, apps, {}, credential_type="oauth2",
                           connector={"a": {"ok": False, "summary": "25 failed", "ports": {}}})
    assert _paths(report) == {("a", "msmtp"): ("direct_xoauth2", True, True),
                              ("a", "grafana"): ("direct_basic", True, False),
                              ("a", "postfix (connector)"): ("direct_connector", False, True)}
    with pytest.raises(_report.ReportInputError, match="relay must be a dict"):
        _report.build_report(fleet(), relay=["x"])


def test_an_app_via_a_relay_whose_upstream_check_fails_is_not_ready():
    apps = {"a": [{"preset": "grafana", "options": VIA_RELAY}], "b": [{"preset": "grafana", "options": VIA_RELAY}]}
    relay = {"a": {"hops": [_hop()], "upstream": {"mode": "xoauth2", "result": _login(ok=False)}},
             "b": {"hops": [_hop()], "upstream": {"mode": "xoauth2", "result": None}}}
    report = _relay_report(relay, apps, {"a": "xoauth2", "b": "xoauth2"})
    jsonschema.validate(json.loads(json.dumps(report)), SCHEMA, cls=jsonschema.Draft202012Validator)
    ready = {h["host"]: h["readiness"] for h in report["hosts"]}
    assert ready["a"]["status"] == "blocked" and [r["code"] for r in ready["a"]["reasons"]] == ["relay_upstream_failed"]
    assert ready["a"]["reasons"][0]["text"].startswith("grafana (via relay) sends through a relay whose upstream "
                                                       "(xoauth2) fails its check")
    assert ready["a"]["apps"][0]["oauth"] is False
    # Not checked (no relay credential given) is no failure: declared as xoauth2, it stays ready.
    assert ready["b"]["ready"] is True
    assert {g["code"]: g["hosts"] for g in report["readiness_findings"]} == {"relay_upstream_failed": ["a"]}
