# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of mailops.smtp.host_settings' engine: every app of a host, all or nothing."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _settings_batch as batch
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from tests.local_runner import run_local

CRED = {"type": "basic", "username": "svc@contoso.com", "password": "S3cret-pw!",
        "vault": {"path": "smtp/app", "mount": "secret", "version": 3}}
SMTP = {"host": "smtp.office365.com", "port": 587}
ENV_KEYS = {"host": "SMTP_HOST", "username": "SMTP_USER", "password": "SMTP_PASSWORD"}


def apps(tmp_path, third=None):
    one = {"name": "one", "format": "env", "path": str(tmp_path / "one.env"), "keys": ENV_KEYS,
           "smtp": SMTP, "credential": CRED}
    two = {"name": "two", "format": "ini", "section": "mail", "path": str(tmp_path / "two.ini"),
           "keys": {"host": "host", "password": "password"}, "smtp": SMTP, "credential": CRED}
    three = third or {"name": "three", "format": "properties", "path": str(tmp_path / "three.properties"),
                      "keys": {"host": "mail.host"}, "smtp": SMTP, "credential": CRED}
    return [one, two, three]


def seed(tmp_path):
    (tmp_path / "one.env").write_bytes(b"APP=1\nSMTP_HOST=old\n")
    (tmp_path / "two.ini").write_bytes(b"[mail]\nhost = old\n")
    return {p: (tmp_path / p).read_bytes() for p in ("one.env", "two.ini")}


def test_a_third_app_refused_leaves_the_first_two_files_byte_for_byte(tmp_path):
    before = seed(tmp_path)
    django = {"name": "django", "preset": "django", "path": str(tmp_path / "settings_smtp.py"),
              "smtp": dict(SMTP, ca_path=str(tmp_path / "ca.pem")), "credential": CRED}
    with pytest.raises(engine.SettingsError) as e:
        batch.execute(apps(tmp_path, django), "k", run_local)
    assert str(e.value).startswith("django: ") and "no file of this host was written" in str(e.value)
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    assert not (tmp_path / "settings_smtp.py").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.env", "two.ini"]


def test_a_candidate_refused_by_validate_leaves_every_file(tmp_path):
    before = seed(tmp_path)
    third = dict(apps(tmp_path)[2], validate="false %s")
    with pytest.raises(engine.SettingsError) as e:
        batch.execute(apps(tmp_path, third), "k", run_local)
    assert "three" in str(e.value)
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.env", "two.ini"]  # no candidate left


def test_check_mode_is_a_plan_per_app_and_writes_nothing(tmp_path):
    before = seed(tmp_path)
    plan = batch.execute(apps(tmp_path), "k", run_local, check_mode=True, want_diff=True)
    assert plan["changed"] and [a["name"] for a in plan["apps"]] == ["one", "two", "three"]
    assert all(a["changed"] for a in plan["apps"])
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    assert CRED["password"] not in repr(plan)
    written = batch.execute(apps(tmp_path), "k", run_local)
    assert written["changed"] and b"S3cret-pw!" in (tmp_path / "one.env").read_bytes()
    again = batch.execute(apps(tmp_path), "k", run_local, check_mode=True)
    assert not again["changed"] and not any(a["changed"] for a in again["apps"])


def test_only_the_apps_that_differ_are_changed(tmp_path):
    batch.execute(apps(tmp_path), "k", run_local)
    (tmp_path / "two.ini").write_text("[mail]\nhost = drifted\n")
    plan = batch.execute(apps(tmp_path), "k", run_local, check_mode=True)
    assert [a["name"] for a in plan["apps"] if a["changed"]] == ["two"]


def test_two_apps_may_not_write_one_file(tmp_path):
    a = apps(tmp_path)
    a[1] = dict(a[0], name="again")
    with pytest.raises(engine.SettingsError) as e:
        batch.execute(a, "k", run_local)
    assert "one and again both write" in str(e.value)
    assert not (tmp_path / "one.env").exists()


def test_check_mode_plans_files_in_a_directory_not_made_yet(tmp_path):
    a = apps(tmp_path)
    a[2] = dict(a[2], path=str(tmp_path / "later" / "x.properties"))
    plan = batch.execute(a, "k", run_local, check_mode=True)
    assert plan["apps"][2]["files"][0]["created"]


def test_missing_packages_asks_dpkg():
    calls = []

    def run(argv, timeout=None):
        calls.append(argv)
        return 1, "msmtp install ok installed\nlibsasl2-modules:amd64 deinstall ok config-files\n", ""
    missing = batch.missing_packages(["msmtp", "libsasl2-modules", "nothere"], run,
                                     which=lambda name: name == "dpkg-query")
    assert missing == ["libsasl2-modules", "nothere"]
    assert calls[0][0] == "dpkg-query"


def test_missing_packages_without_a_package_manager_is_every_package():
    assert batch.missing_packages(["a"], run_local, which=lambda name: False) == ["a"]
    assert batch.missing_packages([], run_local) == []
