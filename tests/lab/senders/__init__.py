# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each application's own mail library, sending one message from the file mailops.smtp wrote.

`send_as(lab, app, path, host, to=..., subject=...)` runs the application's sender ON the lab host
(its network, its /etc overlay and so its trust store), so that it reaches what the application
would reach: the stand-in, or a relay on the host's loopback. The runtimes and libraries are the
machine's Debian packages (tests/apt-packages.txt), which every lab host shares through /usr:

| app | library | sender |
| --- | --- | --- |
| django | django.core.mail (python3-django) | django_send.py, the machine's Python |
| laravel | Symfony Mailer (php-symfony-mailer), .env by phpdotenv | laravel_send.php |
| nextcloud | Symfony Mailer, config/*.config.php | nextcloud_send.php |
| spring | Jakarta Mail (libjakarta-mail-java) | SpringSend.java |
| grafana | gopkg.in/mail.v2 (golang-gopkg-mail.v2-dev), go-ini | grafana_send.go |
| gitlab | the mail gem (ruby-mail) | gitlab_send.rb |
| env, ini, json, yaml, properties | smtplib, each format's reference parser | generic_send.py, the controller's venv Python |

Each exits 0 only when its library reports the message sent, and prints the library's error
otherwise. The Java and Go senders are compiled once and cached under the lab directory, keyed by
their sources. No sender takes a secret on its command line: each reads the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration._readers import build_go_ini_reader

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
# The reader the settings tests use for java.util.Properties; the generic sender reads with it too.
PROPS_READER = REPO / "tests" / "integration" / "presets" / "PropsReader.java"
JAKARTA_JARS = ("/usr/share/java/jakarta-mail.jar", "/usr/share/java/jakarta-activation.jar")
HOST_PYTHON = "/usr/bin/python3"  # the machine's, with python3-django
GENERIC = ("env", "ini", "json", "yaml", "properties")
APPS = ("django", "laravel", "nextcloud", "spring", "grafana", "gitlab") + GENERIC
COMPILED = (HERE / "SpringSend.java", PROPS_READER, HERE / "grafana_send.go")

_built: dict = {}


def _sources_key() -> str:
    h = hashlib.sha256()
    for src in COMPILED:
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    return h.hexdigest()[:16]


def build(lab_dir: Path) -> dict:
    """{"classes": dir of SpringSend and PropsReader, "grafana": Go binary}, built once per sources."""
    key = _sources_key()
    if key in _built:
        return _built[key]
    out = Path(lab_dir) / "senders" / key
    if not (out / "done").exists():
        tmp = Path(lab_dir) / "senders" / (key + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "classes").mkdir(parents=True)
        missing = [j for j in JAKARTA_JARS if not os.path.exists(j)]
        if missing:
            raise RuntimeError("%s missing: install libjakarta-mail-java (tests/apt-packages.txt)" % missing)
        javac = subprocess.run(["javac", "-nowarn", "-cp", ":".join(JAKARTA_JARS), "-d", str(tmp / "classes"),
                                str(HERE / "SpringSend.java"), str(PROPS_READER)],
                               check=False, capture_output=True, text=True, timeout=300)
        if javac.returncode != 0:
            raise RuntimeError("javac failed on the Spring sender (default-jdk-headless and "
                               "libjakarta-mail-java, tests/apt-packages.txt):\n" + javac.stderr[-2000:])
        if not os.path.isdir("/usr/share/gocode/src/gopkg.in/mail.v2"):
            raise RuntimeError("golang-gopkg-mail.v2-dev is needed (tests/apt-packages.txt)")
        build_go_ini_reader(HERE / "grafana_send.go", tmp)
        (tmp / "done").write_text("")
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp, out)
    _built[key] = {"classes": str(out / "classes"), "grafana": str(out / "grafana_send")}
    return _built[key]


def argv_for(built: dict, app: str, path: str, to: str, subject: str, *, sender: str | None = None,
             keys: dict | None = None, section: str | None = None) -> list[str]:
    """The command that sends as `app` from `path`.

    sender: the From of the apps whose settings have none (spring: the application sets it).
    keys, section: the generic formats' map of logical names to keys, and the ini section.
    """
    if app == "django":
        return [HOST_PYTHON, "-B", str(HERE / "django_send.py"), path, to, subject]
    if app in ("laravel", "nextcloud"):
        return ["php", str(HERE / ("%s_send.php" % app)), path, to, subject]
    if app == "spring":
        if not sender:
            raise ValueError("spring needs the sender: Spring Boot has no property for the From")
        cp = ":".join((built["classes"],) + JAKARTA_JARS)
        return ["java", "-cp", cp, "SpringSend", path, to, subject, sender]
    if app == "grafana":
        return [built["grafana"], path, to, subject]
    if app == "gitlab":
        return ["ruby", str(HERE / "gitlab_send.rb"), path, to, subject]
    if app in GENERIC:
        if not keys:
            raise ValueError("format %s needs keys (logical name -> the file's key)" % app)
        argv = [sys.executable, "-B", str(HERE / "generic_send.py"), app, path, to, subject,
                "--keys", json.dumps(keys), "--props-cp", built["classes"]]
        return argv + (["--section", section] if section else [])
    raise ValueError("no sender for %r; choose one of %s" % (app, ", ".join(APPS)))


def send_as(lab, app: str, path: str, host: str, *, to: str, subject: str, sender: str | None = None,
            keys: dict | None = None, section: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Send one message as `app` on lab host `host`, from the settings file `path` on that host.

    Returns the finished process (never raises for a failed send): returncode 0 only when the
    application's mail library reported the message sent, its error on stderr otherwise.
    """
    built = build(lab.dir)
    argv = argv_for(built, app, path, to, subject, sender=sender, keys=keys, section=section)
    return lab.host_run(host, argv, check=False, timeout=timeout)
