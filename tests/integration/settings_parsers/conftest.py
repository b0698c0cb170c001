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


# Every character some reader takes as a line, record or field break (stated here, not
# imported, so the tests say what the code must do).
BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
BINARY = (".db", ".lmdb", ".cdb")


def has_break(pw):
    return any(ch in pw for ch in BREAKS)


def rotated(pw):
    return "new-" + pw


def write_corpus(tmp_path, make_params, refuse_rule):
    """Write every hostile password; return {password: path-or-dir} of the accepted ones.

    Refusals must match refuse_rule exactly, and a refused write must leave nothing behind.
    An accepted password then goes through a rerun (no change), a rotation to another value
    and back (each a secret change), and a last rerun (no change): a writer that splits a
    stored value into two lines changes the file again on a rerun. No written file may hold
    a line break other than LF: every value is encoded or refused.
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
        label = "corpus entry %d" % i  # not the password: assertion messages are printed
        assert not write(params)["changed"], "%s: a rerun changed the file" % label
        for value in (rotated(pw), pw):
            params["credential"] = dict(params["credential"], password=value)
            s = write(params)
            assert s["changed"] and s["secret_changed"], "%s: a rotation was not a secret change" % label
        assert not write(params)["changed"], "%s: a rerun after the rotation changed the file" % label
        for f in d.iterdir():
            if f.is_file() and not f.name.endswith(BINARY):
                text = f.read_text(encoding="utf-8")
                assert not has_break(text.replace("\n", "")), "%s: %s holds a line break other than LF" % (label, f.name)
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
