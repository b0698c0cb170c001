# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for running the docs' preset examples through the smtp_configure role on the lab.

The examples are taken from docs/configure.md and docs/basic-auth-retirement.md by their
`<!-- example: NAME -->` markers. Role variables go to the playbook in a 0600 YAML file whose
secrets carry `!unsafe`, the way an operator keeps a password with `{{` in it in inventory: without
the tag Ansible would template it.

Run inside the lab's controller namespace:
  MAILOPS_LAB_STATE=$PWD/.lab-presets .lab-presets/ctl-exec .venv/bin/python -m pytest -q tests/integration/presets
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration._readers import build_go_ini_reader
from tests.integration.configure.conftest import Configure

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
CONFIGURE_DOC = REPO / "docs" / "configure.md"
RETIREMENT_DOC = REPO / "docs" / "basic-auth-retirement.md"
CORPUS = json.loads((REPO / "tests" / "data" / "hostile_passwords.json").read_text(encoding="utf-8"))["passwords"]
MARKED = re.compile(r"<!-- (example|command): ([^>]+?) -->\n```(\w*)\n(.*?)^```", re.S | re.M)
SECRET_KEYS = ("password", "client_secret", "access_token")
# Each host records its reloads here: init.d stubs for `service:`, a stub artisan, the gitlab recorder.
RELOAD_LOG = "/var/tmp/mailops-presets-reloads.log"
HOST_PYTHON = "/usr/bin/python3"  # the machine's, with PyYAML; hosts see the machine's /usr


def doc_blocks(doc: Path) -> dict:
    """{name: body} of the doc's `example` blocks; every fenced block must carry a marker."""
    text = doc.read_text()
    found = MARKED.findall(text)
    fences = re.findall(r"^```", text, re.M)
    assert len(found) == len(fences) // 2, "%s has a code block without a marker" % doc.name
    return {name.strip(): body for kind, name, _lang, body in found if kind == "example"}


def doc_example(doc: Path, name: str):
    return yaml.safe_load(doc_blocks(doc)[name])


def pick(*passwords: str) -> list[str]:
    """Corpus passwords by value, so a test names what it covers and fails if the corpus loses one."""
    for pw in passwords:
        assert pw in CORPUS, "%r is not in tests/data/hostile_passwords.json" % pw
    return list(passwords)


def to_yaml(value, key: str = "") -> str:
    """Flow-style YAML; strings under secret keys get `!unsafe` (JSON strings are YAML scalars)."""
    if isinstance(value, dict):
        return "{" + ", ".join("%s: %s" % (json.dumps(k), to_yaml(v, k)) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v, key) for v in value) + "]"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return ("!unsafe " + text) if key in SECRET_KEYS else text
    return json.dumps(value)


class UnsafeConfigure(Configure):
    def _vars_file(self, role_vars: dict) -> Path:
        f = self.scratch / ("vars-%s.yml" % uuid.uuid4().hex)
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("---\n")
            for k, v in role_vars.items():
                fh.write("%s: %s\n" % (k, to_yaml(v, k)))
        return f


@pytest.fixture(scope="session")
def configure(lab, tmp_path_factory):
    return UnsafeConfigure(lab, tmp_path_factory.mktemp("presets"))


def failures(run) -> str:
    """The failed tasks of a run (with their task line), else its tail: for assertion messages."""
    out, task = [], ""
    for line in run.output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line
        elif line.startswith(("fatal:", "failed:")):
            out += [task, line[:3000]]
    return "\n".join(out) or run.output[-4000:]


def host_sh(lab, host: str, script: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return lab.host_run(host, ["sh", "-c", script, "sh", *args], **kw)


def host_read(lab, host: str, path: str) -> str:
    return lab.host_run(host, ["cat", path]).stdout


def reloads(lab, host: str) -> list[str]:
    p = host_sh(lab, host, 'cat "$1" 2>/dev/null || true', RELOAD_LOG)
    return p.stdout.splitlines()


def postfix_reloads(lab, host: str) -> int:
    p = host_sh(lab, host, "grep -c 'reload -- version' /var/log/postfix.log || true")
    return int(p.stdout.strip() or 0)


@pytest.fixture(scope="session")
def go_ini_reader(tmp_path_factory) -> Path:
    """Built once on the controller; the hosts run the binary from /tmp."""
    try:
        return build_go_ini_reader(HERE / "ini_reader.go", tmp_path_factory.mktemp("goini"))
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def props_reader(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("props")
    shutil.copy(str(HERE / "PropsReader.java"), str(d / "PropsReader.java"))
    return d / "PropsReader.java"


@pytest.fixture
def connector_host(lab):
    """host1 with the lab's client certificate in /etc/ssl/relay, its main.cf restored afterwards."""
    host = "host1"
    snap = lab.dir / ("presets-postfix-main.cf.%s.%s" % (host, lab.host(host)["pid"]))
    if not snap.exists():
        snap.write_text(host_read(lab, host, "/etc/postfix/main.cf"))

    def restore():
        host_sh(lab, host, "cat > /etc/postfix/main.cf", input=snap.read_text())
        host_sh(lab, host, "rm -rf /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.* /etc/ssl/relay;"
                           " postsuper -d ALL >/dev/null 2>&1; postfix reload >/dev/null 2>&1 || true")
    restore()
    pki = lab.state["pki"]["client"]
    host_sh(lab, host, 'mkdir -p /etc/ssl/relay && cp "$1" /etc/ssl/relay/client.pem && '
                       'cp "$2" /etc/ssl/relay/client.key && chmod 600 /etc/ssl/relay/client.key',
            pki["cert"], pki["key"])
    yield host
    restore()
