# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The observed way of an application (plugin_utils/_observed.py) and the readiness that follows it."""

from __future__ import annotations

import json

import jsonschema
import pytest

from ansible_collections.mailops.smtp.plugins.filter.observed_app import FilterModule
from ansible_collections.mailops.smtp.plugins.plugin_utils import _observed, _report, _report_md, _report_html

from test_report import GENERATED, SCHEMA, fleet

MSMTP = {"preset": "msmtp"}


def seen(method_marker=None, method="basic", password=True, exists=True, readable=True):
    marker = None if method_marker is False else {"credential": "secret/smtp/a", "version": "3"}
    if marker is not None and method_marker:
        marker["auth"] = method_marker
    return {"name": "msmtp", "observed": {
        "path": "/etc/msmtprc", "exists": exists, "readable": readable, "error": None if readable else "cannot read",
        "marker": marker, "settings": {"method": method, "holds_password": password}}}


@pytest.mark.parametrize("entry,want", [
    (seen("basic"), {"method": "basic", "relay_upstream": None, "source": "marker", "holds_password": True}),
    (seen("xoauth2", "xoauth2", False),
     {"method": "xoauth2", "relay_upstream": None, "source": "marker", "holds_password": False}),
    (seen(None, "basic", True), {"method": "basic", "relay_upstream": None, "source": "settings", "holds_password": True}),
    (seen(False, "via_relay", False),
     {"method": "via_relay", "relay_upstream": "xoauth2", "source": "settings", "holds_password": False}),
    (seen("via_relay+connector", "via_relay", False),
     {"method": "via_relay", "relay_upstream": "connector", "source": "marker", "holds_password": False}),
    (seen(exists=False, password=False), {"method": "none", "relay_upstream": None, "source": "missing",
                                          "holds_password": False}),
    (seen(readable=False), {"method": "unknown", "relay_upstream": None, "source": "unreadable",
                            "holds_password": None}),
    (None, {"method": "unknown", "relay_upstream": None, "source": "unreadable", "holds_password": None}),
    ({"unreachable": True, "msg": "x"}, {"method": "unknown", "relay_upstream": None, "source": "unreadable",
                                         "holds_password": None}),
])
def test_observed_app(entry, want):
    assert _observed.observed_app(entry, MSMTP, "xoauth2") == want


def test_a_check_mode_settings_result_gives_only_its_marker():
    assert _observed.observed_app({"changed": False, "deployed": {"credential": "c", "version": "1", "auth": "basic"}},
                                  MSMTP)["method"] == "basic"
    old = _observed.observed_app({"changed": False, "deployed": {"credential": "c", "version": "1"}}, MSMTP)
    assert old["method"] == "unknown" and old["source"] == "settings"


def test_observed_apps_follows_the_apps_and_a_skipped_read_is_not_read():
    result = {"apps": [seen("basic"), seen("xoauth2", "xoauth2", False)]}
    got = _observed.observed_apps(result, [MSMTP, {"preset": "msmtp", "path": "/x"}])
    assert [o["method"] for o in got] == ["basic", "xoauth2"]
    assert _observed.observed_apps({"skipped": True}, [MSMTP]) is None
    assert [o["method"] for o in _observed.observed_apps(None, [MSMTP, MSMTP])] == ["unknown", "unknown"]


def test_the_filters_and_the_items_are_named_as_configure_names_them():
    filters = FilterModule().filters()
    assert filters["observed_app"] is _observed.observed_app
    items = filters["observe_items"]([MSMTP, {"format": "env", "path": "/srv/.env", "keys": {"password": "P"},
                                              "options": {"mode": "via_relay"}}], "m365")
    assert items == [{"name": "msmtp (default path)", "preset": "msmtp"},
                     {"name": "env /srv/.env", "format": "env", "path": "/srv/.env"}]


def report(observed, apps=None, credential_type="oauth2"):
    return _report.build_report(fleet(), apps=apps or {"app1": [MSMTP]}, max_fail_percentage=100,
                                generated=GENERATED, credential_type=credential_type, observed=observed)


def app_row(rep, host="app1"):
    return [h for h in rep["hosts"] if h["host"] == host][0]["readiness"]["apps"][0]


def test_an_msmtp_app_still_on_a_password_is_not_ready_whatever_the_inventory_says():
    declared = report(None)
    row = app_row(declared)
    assert row["oauth"] is True and "observed" not in row and row["path"] == "direct_xoauth2"
    rep = report({"app1": {"apps": [seen("basic")]}})
    host = [h for h in rep["hosts"] if h["host"] == "app1"][0]
    assert host["readiness"]["ready"] is False
    assert [r["code"] for r in host["readiness"]["reasons"]] == ["app_holds_password"]
    row = app_row(rep)
    assert row["observed"]["method"] == "basic" and row["oauth"] is False
    # The path fields follow the observed way, not the declared one.
    assert (row["path"], row["survives_retirement"]) == ("direct_basic", False)
    jsonschema.validate(json.loads(json.dumps(rep)), SCHEMA, cls=jsonschema.Draft202012Validator)
    assert any(f["code"] == "app_holds_password" for f in rep["readiness_findings"])


def test_unknown_is_never_ready_and_xoauth2_observed_is():
    rep = report({"app1": {"apps": [seen(readable=False)]}})
    assert [r["code"] for r in [h for h in rep["hosts"] if h["host"] == "app1"][0]["readiness"]["reasons"]] == [
        "app_not_observed"]
    assert app_row(rep)["path"] == "direct_unknown"
    ok = report({"app1": {"apps": [seen("xoauth2", "xoauth2", False)]}}, credential_type="basic")
    host = [h for h in ok["hosts"] if h["host"] == "app1"][0]
    assert host["readiness"]["ready"] is True, host["readiness"]
    assert app_row(ok)["path"] == "direct_xoauth2"
    jsonschema.validate(json.loads(json.dumps(rep)), SCHEMA, cls=jsonschema.Draft202012Validator)


def test_a_host_left_out_of_observed_is_unknown_and_a_missing_file_keeps_the_declared_way():
    rep = report({})
    assert app_row(rep)["observed"]["method"] == "unknown"
    rep = report({"app1": {"apps": [seen(exists=False, password=False)]}})
    row = app_row(rep)
    assert row["observed"]["method"] == "none" and row["oauth"] is True and row["path"] == "direct_xoauth2"


def test_an_app_observed_via_a_relay_is_as_ready_as_the_relays_upstream():
    rep = _report.build_report(fleet(), apps={"app1": [{"preset": "grafana"}]}, max_fail_percentage=100,
                               generated=GENERATED, relay_upstream={"app1": "xoauth2"},
                               observed={"app1": {"apps": [seen(False, "via_relay", False)]}})
    row = app_row(rep)
    assert row["oauth"] is True and row["path"] == "relay_xoauth2", row


def test_the_renderers_show_the_observed_column_only_when_observed():
    rep = report({"app1": {"apps": [seen("basic")]}})
    md = _report_md.render(rep)
    assert "| Observed |" in md and "basic (marker), password in file" in md
    assert "<th>Observed</th>" in _report_html.render(rep)
    assert "| Observed |" not in _report_md.render(report(None))


def test_an_unreachable_host_with_applications_is_reported_and_its_apps_unknown():
    # Before: KeyError 'profile' (the unreachable branch gave no profile for the app paths).
    rep = _report.build_report({"h": {"unreachable": True, "msg": "ssh: no route"}}, apps={"h": [MSMTP]},
                               generated=GENERATED, observed={"h": None})
    host, = rep["hosts"]
    assert host["status"] == "unreachable" and host["readiness"]["ready"] is False
    assert host["readiness"]["apps"][0]["observed"]["method"] == "unknown"
    assert host["readiness"]["apps"][0]["path"] == "direct_unknown"
