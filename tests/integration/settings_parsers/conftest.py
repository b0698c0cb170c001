"""Real-parser round trips of mailops.smtp.settings, run on the controller machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine

REPO = Path(__file__).resolve().parents[3]
CORPUS = json.loads((REPO / "tests" / "data" / "hostile_passwords.json").read_text(encoding="utf-8"))["passwords"]
USER = "svc@contoso.com"

GO_READER = r'''
package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"gopkg.in/ini.v1"
)

func main() {
	for _, f := range os.Args[1:] {
		cfg, err := ini.Load(f)
		if err != nil {
			fmt.Println("ERR " + err.Error())
			continue
		}
		fmt.Println(hex.EncodeToString([]byte(cfg.Section("smtp").Key("password").String())))
	}
}
'''

JAVA_READER = r'''
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

public class Reader {
    public static void main(String[] args) throws Exception {
        String key = args[0];
        for (int i = 1; i < args.length; i++) {
            Properties p = new Properties();
            try (FileInputStream in = new FileInputStream(args[i])) { p.load(in); }
            StringBuilder sb = new StringBuilder();
            for (byte b : p.getProperty(key).getBytes(StandardCharsets.UTF_8)) sb.append(String.format("%02x", b));
            System.out.println(sb);
        }
    }
}
'''


def cred(password, **extra):
    c = {"type": "basic", "username": USER, "password": password,
         "vault": {"path": "smtp/o365-mailer", "mount": "secret", "kv_version": 2, "version": 3}}
    c.update(extra)
    return c


def write(params):
    """Run the engine in-process as the module would: plan, then apply."""
    plans = engine.plan(params, "test-fingerprint-key")
    summary = engine.summary(plans, params)
    if summary["changed"]:
        engine.apply(plans, params)
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


def hexes(out):
    return [bytes.fromhex(line).decode("utf-8") for line in out.strip().splitlines()]


@pytest.fixture(scope="session")
def go_reader(tmp_path_factory):
    if not shutil.which("go") or not os.path.isdir("/usr/share/gocode/src/gopkg.in/ini.v1"):
        pytest.fail("golang-go and golang-gopkg-ini.v1-dev are needed (tests/apt-packages.txt)")
    d = tmp_path_factory.mktemp("goini")
    (d / "reader.go").write_text(GO_READER)
    cache = REPO / ".build" / "gocache"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=str(cache),
               GOFLAGS="", CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", str(d / "reader"), str(d / "reader.go")], check=True, env=env,
                   cwd=str(d), timeout=300)
    return d / "reader"


@pytest.fixture(scope="session")
def java_reader(tmp_path_factory):
    d = tmp_path_factory.mktemp("java")
    (d / "Reader.java").write_text(JAVA_READER)
    return d / "Reader.java"
