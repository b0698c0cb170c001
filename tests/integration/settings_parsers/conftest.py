# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real-parser round trips of mailops.smtp.settings, run on the controller machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from tests.integration._readers import build_go_ini_reader
from tests.local_runner import run_local

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
CORPUS = json.loads((REPO / "tests" / "data" / "hostile_passwords.json").read_text(encoding="utf-8"))["passwords"]
USER = "svc@contoso.com"


def cred(password, **extra):
    c = {"type": "basic", "username": USER, "password": password,
         "vault": {"path": "smtp/o365-mailer", "mount": "secret", "kv_version": 2, "version": 3}}
    c.update(extra)
    return c


def write(params):
    """Run the engine in-process as the module would: plan, then apply."""
    plans = engine.plan(params, "test-fingerprint-key", run_local)
    summary = engine.summary(plans, params)
    if summary["changed"]:
        engine.apply(plans, params, run_local)
    return summary


def write_corpus(tmp_path, make_params, refuse_rule):
    """Write every hostile password; return {password: path-or-dir} of the accepted ones.

    Refusals must match refuse_rule exactly, and a refused write must leave nothing behind.
    """
    accepted, refused = {}, []
    for i, pw in enumerate(CORPUS):
        d = tmp_path / ("c%02d" % i)
        d.mkdir()
        params = make_params(d, pw)
        before = snapshot(d)
        try:
            write(params)
        except engine.SettingsError as e:
            if len(pw) > 10:
                assert pw not in str(e)
            assert snapshot(d) == before, "a refused value must leave every file untouched"
            refused.append(pw)
            continue
        accepted[pw] = d
    expected = [pw for pw in CORPUS if refuse_rule(pw)]
    assert refused == expected
    assert len(accepted) == len(CORPUS) - len(expected)
    return accepted


def snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(Path(d).iterdir()) if p.is_file()}


@pytest.fixture(scope="session")
def go_reader(tmp_path_factory):
    try:
        return build_go_ini_reader(HERE / "reader.go", tmp_path_factory.mktemp("goini"))
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def java_reader(tmp_path_factory):
    d = tmp_path_factory.mktemp("java")
    shutil.copy(str(HERE / "Reader.java"), str(d / "Reader.java"))
    return d / "Reader.java"
