# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15 items 2, 4, 5 and 7: foreign secrets in diffs, symlinks, concurrent writers,
modes, file types, wrong types, and Postfix without the machine's /etc/postfix."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from ansible_collections.mailops.smtp.plugins.plugin_utils import _yaml_merge
from tests.local_runner import run_local

REPO = Path(__file__).resolve().parents[4]
POSTFIX_DATA = REPO / "tests" / "data" / "postfix"
SMTP = {"host": "smtp.office365.com", "port": 587}
PW = "Our-S3cret-pw!"


def cred(pw=PW, **kw):
    c = {"type": "basic", "username": "svc@contoso.com", "password": pw,
         "vault": {"path": "smtp/app", "mount": "secret", "version": 3}}
    c.update(kw)
    return c


def run(params, check=False):
    return engine.execute(params, "k", run_local, check_mode=check, want_diff=True)


def diff_text(result):
    return "".join(d["before"] + d["after"] for d in result["diff"])


# --- item 2: a diff never shows a value that could be a secret --------------------------------

LARAVEL_ENV = """APP_NAME=Shop
APP_KEY=base64:QXBwS2V5LWZvcmVpZ24tc2VjcmV0LTAxMjM0NTY3ODk=
DB_CONNECTION=mysql
DB_PASSWORD="db-foreign-secret"
# OLD_DB_PASSWORD=db-old-foreign-secret
DATABASE_URL=postgres://shop:url-foreign-secret@db/shop
AWS_SECRET_ACCESS_KEY=aws-foreign-secret
MAIL_HOST=old.example.com
"""
LARAVEL_SECRETS = ("QXBwS2V5LWZvcmVpZ24tc2VjcmV0LTAxMjM0NTY3ODk", "db-foreign-secret", "db-old-foreign-secret",
                   "url-foreign-secret", "aws-foreign-secret")


def test_laravel_first_write_diff_hides_app_key_and_db_password(tmp_path):
    f = tmp_path / ".env"
    f.write_text(LARAVEL_ENV)
    s = run({"preset": "laravel", "path": str(f), "credential": cred(), "smtp": SMTP})
    text = diff_text(s)
    for secret in LARAVEL_SECRETS + (PW,):
        assert secret not in text
    assert "APP_KEY=fingerprint:" in text and "DB_PASSWORD=fingerprint:" in text
    assert "APP_NAME=Shop" in text and "MAIL_HOST=\"smtp.office365.com\"" in text
    # The file itself keeps every foreign line byte for byte.
    for line in LARAVEL_ENV.splitlines():
        if not line.startswith("MAIL_HOST"):
            assert line in f.read_text()


DJANGO = """SECRET_KEY = 'django-insecure-foreign-secret'
DEBUG = False
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'PASSWORD': 'dj-db-foreign-secret',
    }
}
EMAIL_HOST_PASSWORD = 'old-mail-secret'
"""


def test_django_diff_hides_secret_key_and_database_password(tmp_path):
    f = tmp_path / "settings.py"
    f.write_text(DJANGO)
    text = diff_text(run({"preset": "django", "path": str(f), "credential": cred(), "smtp": SMTP}))
    for secret in ("django-insecure-foreign-secret", "dj-db-foreign-secret", "old-mail-secret", PW):
        assert secret not in text
    assert "SECRET_KEY = fingerprint:" in text and "'PASSWORD': fingerprint:" in text


MSMTPRC = """defaults
tls on

account personal
host mail.example.net
user alice@example.net
password "alice-foreign-secret"

account backup
host mail.example.org
user bob@example.org
passwordeval "gpg -q -d bob-foreign-secret.gpg"
"""


@pytest.mark.parametrize("mechanism", ["login", "xoauth2"])
def test_msmtp_other_accounts_are_masked(tmp_path, mechanism):
    f = tmp_path / "msmtprc"
    f.write_text(MSMTPRC)
    s = run({"preset": "msmtp", "path": str(f), "credential": cred(), "smtp": {"profile": "m365",
             "mechanism": mechanism}})
    text = diff_text(s)
    for secret in ("alice-foreign-secret", "bob-foreign-secret", "alice@example.net", "bob@example.org", PW):
        assert secret not in text
    assert text.count("password fingerprint:") == 2  # alice's, in before and after
    assert 'user "svc@contoso.com"' in text  # our own account's user stays readable
    assert "host mail.example.net" in text


def test_module_json_at_diff_carries_no_foreign_secret(tmp_path):
    """The module's own stdout, what -vvv shows and callbacks receive."""
    f = tmp_path / "msmtprc"
    f.write_text(MSMTPRC)
    args = {"ANSIBLE_MODULE_ARGS": {"preset": "msmtp", "path": str(f), "credential": cred(),
                                    "smtp": {"profile": "m365"}, "_ansible_diff": True,
                                    "_ansible_check_mode": True}}
    (tmp_path / "args.json").write_text(json.dumps(args))
    p = subprocess.run([sys.executable, str(REPO / "plugins" / "modules" / "settings.py"), str(tmp_path / "args.json")],
                       capture_output=True, text=True, timeout=60, check=False,
                       env=dict(os.environ, PYTHONPATH=str(REPO / ".build" / "collections")))
    out = json.loads(p.stdout)
    assert out["changed"] and out["diff"], p.stderr
    for secret in ("alice-foreign-secret", "bob-foreign-secret", "alice@example.net", PW):
        assert secret not in p.stdout


def test_postfix_sasl_map_foreign_entries_are_masked(tmp_path):
    (tmp_path / "main.cf").write_bytes((POSTFIX_DATA / "main.cf").read_bytes())
    (tmp_path / "master.cf").write_bytes((POSTFIX_DATA / "master.cf").read_bytes())
    (tmp_path / "sasl_passwd").write_text("[other.example.com]:587 carol:sasl-foreign-secret\n")
    text = diff_text(run({"preset": "postfix", "path": str(tmp_path), "credential": cred(), "smtp": SMTP,
                          "options": {"map_type": "hash"}}, check=True))
    assert "sasl-foreign-secret" not in text and "carol" not in text and PW not in text
    assert "[other.example.com]:587 fingerprint:" in text


def test_json_and_yaml_diffs_mask_foreign_secret_keys(tmp_path):
    f = tmp_path / "app.json"
    f.write_text(json.dumps({"db": {"password": "json-foreign-secret", "host": "db"},
                             "api_token": "tok-foreign-secret", "secrets": {"a": "nested-foreign-secret"}}))
    text = diff_text(run({"format": "json", "path": str(f), "credential": cred(), "smtp": SMTP,
                          "keys": {"password": "mail.password", "host": "mail.host"}}))
    for secret in ("json-foreign-secret", "tok-foreign-secret", "nested-foreign-secret", PW):
        assert secret not in text
    assert '"host": "db"' in text
    old = "db:\n  password: yaml-foreign-secret\nsignup:\n  salt: yaml-salt-secret\n"
    m = _yaml_merge.merge(old, [("mail.password", PW, True)], cred(), "k", "/x.yml")
    assert m["content"].count("yaml-foreign-secret") == 1  # the file keeps it
    for secret in ("yaml-foreign-secret", "yaml-salt-secret", PW):
        assert secret not in m["before"] + m["after"]


# --- item 4: symlinked destination ------------------------------------------------------------

def test_symlink_refused_by_default_and_followed_with_follow(tmp_path):
    shared = tmp_path / "shared"
    current = tmp_path / "current"
    shared.mkdir()
    current.mkdir()
    (shared / ".env").write_text("APP_KEY=keep\n")
    (current / ".env").symlink_to(shared / ".env")
    p = {"preset": "laravel", "path": str(current / ".env"), "credential": cred(), "smtp": SMTP}
    with pytest.raises(engine.SettingsError, match="follow: true"):
        run(p)
    assert (current / ".env").is_symlink() and (shared / ".env").read_text() == "APP_KEY=keep\n"
    p["follow"] = True
    s = run(p)
    assert s["changed"] and s["files"][0]["path"] == str(shared / ".env")
    assert (current / ".env").is_symlink() and os.readlink(current / ".env") == str(shared / ".env")
    assert 'MAIL_PASSWORD="%s"' % PW in (shared / ".env").read_text()
    assert "APP_KEY=keep" in (shared / ".env").read_text()
    assert not run(p)["changed"]
    assert not list(shared.glob(".mailops-smtp-tmp-*")) and not list(current.glob(".mailops-smtp-tmp-*"))


# --- item 5: concurrent writers ---------------------------------------------------------------

def test_two_writers_of_one_file_both_keep_their_change(tmp_path, monkeypatch):
    """Each writer is slowed between read and rename; without the lock one change is lost."""
    f = tmp_path / "app.env"
    f.write_text("KEEP=1\n")
    real_stage = _atomic.stage

    def slow_stage(*a, **kw):
        time.sleep(0.3)
        return real_stage(*a, **kw)

    monkeypatch.setattr(_atomic, "stage", slow_stage)
    errors = []

    def writer(key, value):
        try:
            run({"format": "env", "path": str(f), "credential": cred(value), "smtp": SMTP,
                 "keys": {"password": key}})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=("FIRST_PASSWORD", "one")),
               threading.Thread(target=writer, args=("SECOND_PASSWORD", "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    text = f.read_text()
    assert 'FIRST_PASSWORD="one"' in text and 'SECOND_PASSWORD="two"' in text and "KEEP=1" in text


def test_stale_cleanup_spares_a_live_writers_candidate(tmp_path):
    f = tmp_path / "app.env"
    f.write_text("A=1\n")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        live = tmp_path / ("%sapp.env.p%d.abcdef" % (_atomic.TMP_PREFIX, sleeper.pid))
        live.write_text("a live writer's candidate")
        gone = subprocess.Popen(["true"])
        gone.wait()
        dead = tmp_path / ("%sapp.env.p%d.123456" % (_atomic.TMP_PREFIX, gone.pid))
        dead.write_text("left by a killed run")
        legacy = tmp_path / (_atomic.TMP_PREFIX + "app.env.0a1b2c")
        legacy.write_text("from a release without PIDs")
        removed = _atomic.cleanup_stale(str(f))
        assert sorted(removed) == sorted([str(dead), str(legacy)])
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lock_is_on_the_directory_and_leaves_no_file(tmp_path):
    before = set(os.listdir(tmp_path))
    with _atomic.DirLock(str(tmp_path)):
        with pytest.raises(_atomic.AtomicError, match="run again"):
            with _atomic.DirLock(str(tmp_path), timeout=0.2):
                pass
    assert set(os.listdir(tmp_path)) == before
    with _atomic.DirLock(str(tmp_path), timeout=0.2):
        pass  # released when the first writer was done


def test_yaml_refused_when_the_file_changed_after_the_controller_read_it(tmp_path):
    f = tmp_path / "app.yml"
    f.write_text("a: 1\n")
    seen = engine.read_for_controller({"path": str(f)})
    assert seen["sha256"] != "absent" and seen["content"] == "a: 1\n"
    m = _yaml_merge.merge(seen["content"], [("mail.password", PW, True)], cred(), "k", str(f))
    f.write_text("a: 1\nb: written by another run\n")
    p = {"format": "yaml", "path": str(f), "credential": cred(), "_content": m["content"],
         "_expected_sha256": seen["sha256"]}
    with pytest.raises(engine.SettingsError, match="Run again"):
        run(p)
    assert "written by another run" in f.read_text() and PW not in f.read_text()
    p["_expected_sha256"] = engine.sha256_of(f.read_text())
    run(p)
    assert PW in f.read_text()


# --- item 7: modes, file types, wrong types ---------------------------------------------------

@pytest.mark.parametrize("preset,name", [("laravel", ".env"), ("django", "settings.py"), ("nextcloud", "smtp.config.php"),
                                         ("spring", "application.properties"), ("grafana", "grafana.ini")])
def test_new_secret_file_is_0600_unless_mode_given(tmp_path, preset, name):
    f = tmp_path / name
    run({"preset": preset, "path": str(f), "credential": cred(), "smtp": dict(SMTP, from_address="a@contoso.com")})
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    g = tmp_path / ("given-" + name)
    run({"preset": preset, "path": str(g), "credential": cred(), "smtp": dict(SMTP, from_address="a@contoso.com"),
         "mode": "0640"})
    assert stat.S_IMODE(g.stat().st_mode) == 0o640


def _in_thread(fn, timeout=10):
    box = {}

    def target():
        try:
            box["value"] = fn()
        except Exception as e:
            box["error"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "hung"
    return box


def test_fifo_and_other_non_regular_destinations_are_refused(tmp_path):
    fifo = tmp_path / ".env"
    os.mkfifo(fifo)
    box = _in_thread(lambda: run({"preset": "laravel", "path": str(fifo), "credential": cred(), "smtp": SMTP}))
    assert isinstance(box.get("error"), engine.SettingsError) and "a FIFO" in str(box["error"])
    box = _in_thread(lambda: engine.read_for_controller({"path": str(fifo)}))
    assert isinstance(box.get("error"), engine.SettingsError)
    (tmp_path / "dir.env").mkdir()
    with pytest.raises(engine.SettingsError, match="a directory"):
        run({"preset": "laravel", "path": str(tmp_path / "dir.env"), "credential": cred(), "smtp": SMTP})
    os.symlink(fifo, tmp_path / "link.env")
    with pytest.raises(engine.SettingsError, match="not a regular file"):
        run({"preset": "laravel", "path": str(tmp_path / "link.env"), "credential": cred(), "smtp": SMTP,
             "follow": True})


@pytest.mark.parametrize("where,field,value,kind", [
    ("credential", "password", ["a", "b"], "a list"),
    ("credential", "username", {"name": "x"}, "a dict"),
    ("credential", "client_secret", 12345, "int"),
    ("smtp", "from_address", ["a@b"], "a list"),
    ("smtp", "host", {"h": 1}, "a dict"),
    ("smtp", "port", [587], "a list"),
])
def test_wrong_types_refused_not_converted(tmp_path, where, field, value, kind):
    f = tmp_path / ".env"
    p = {"preset": "laravel", "path": str(f), "credential": cred(), "smtp": dict(SMTP)}
    p[where][field] = value
    with pytest.raises(engine.SettingsError) as e:
        run(p)
    assert "%s.%s must be" % (where, field) in str(e.value) and kind in str(e.value)
    assert "'a'" not in str(e.value) and "x" not in str(e.value).split("must be", maxsplit=1)[0]
    assert not f.exists()


def test_module_argument_spec_does_not_convert_a_list_password(tmp_path):
    f = tmp_path / ".env"
    args = {"ANSIBLE_MODULE_ARGS": {"preset": "laravel", "path": str(f), "smtp": SMTP,
                                    "credential": {"username": "u@contoso.com",
                                                   "password": ["first-part", "second-part"]}}}
    (tmp_path / "args.json").write_text(json.dumps(args))
    p = subprocess.run([sys.executable, str(REPO / "plugins" / "modules" / "settings.py"), str(tmp_path / "args.json")],
                       capture_output=True, text=True, timeout=60, check=False,
                       env=dict(os.environ, PYTHONPATH=str(REPO / ".build" / "collections")))
    out = json.loads(p.stdout)
    assert out["failed"] and "credential.password must be a string, not a list" in out["msg"]
    assert not f.exists()


# --- item 7: Postfix with the instance's own config dir ---------------------------------------

def _postfix_dir(tmp_path, main_extra=""):
    (tmp_path / "main.cf").write_text((POSTFIX_DATA / "main.cf").read_text() + main_extra)
    (tmp_path / "master.cf").write_bytes((POSTFIX_DATA / "master.cf").read_bytes())
    old = time.time() - 10
    for name in ("main.cf", "master.cf"):
        os.utime(tmp_path / name, (old, old))


def test_postfix_write_survives_a_preexisting_duplicate_entry(tmp_path):
    # "overriding earlier entry" is common in hand-edited files; it used to fail every write.
    _postfix_dir(tmp_path, "myhostname = second.example.test\nsmtp_password_note = dup-secret\n"
                           "smtp_password_note = dup-secret-2\n")
    err = subprocess.run(["postconf", "-c", str(tmp_path), "-n"], capture_output=True, text=True, check=True).stderr
    assert "overriding earlier entry" in err
    s = run({"preset": "postfix", "path": str(tmp_path), "credential": cred(), "smtp": SMTP})
    assert s["changed"] and "dup-secret" not in diff_text(s)
    q = subprocess.run(["postmap", "-c", str(tmp_path), "-q", "[smtp.office365.com]:587",
                        "hash:%s/sasl_passwd" % tmp_path], capture_output=True, text=True, check=True)
    assert q.stdout.strip() == "svc@contoso.com:%s" % PW
    assert not run({"preset": "postfix", "path": str(tmp_path), "credential": cred(), "smtp": SMTP})["changed"]


def test_postfix_tools_always_get_the_instance_config_dir(tmp_path):
    _postfix_dir(tmp_path)
    calls = []

    def recording(argv, timeout=None):
        calls.append(list(argv))
        return run_local(argv)

    engine.execute({"preset": "postfix", "path": str(tmp_path), "credential": cred(), "smtp": SMTP}, "k", recording)
    tools = [c for c in calls if c[0] in ("postconf", "postmap")]
    assert any(c[0] == "postmap" for c in tools) and any(c[0] == "postconf" for c in tools)
    for c in tools:
        assert c[1] == "-c", c


def test_postfix_db_type_without_main_cf_uses_the_compiled_in_default(tmp_path):
    calls = []

    def recording(argv, timeout=None):
        calls.append(list(argv))
        return run_local(argv)

    db = engine.postfix_db_type(str(tmp_path), recording)
    assert db in ("hash", "lmdb", "btree", "cdb")
    assert calls == [["postconf", "-c", str(tmp_path), "-d", "-h", "default_database_type"]]


def test_new_warnings_ignores_line_numbers_and_paths():
    base = engine._warning_set("postconf: warning: /etc/postfix/main.cf, line 3: overriding earlier entry: a=1\n", {})
    err = ("postmap: warning: /etc/postfix/main.cf, line 9: overriding earlier entry: a=1\n"
           "postmap: warning: /tmp/c/sasl_passwd, line 2: expected format: key whitespace value\n")
    added = engine.new_warnings(err, base, {"/tmp/c/sasl_passwd": "/etc/postfix/sasl_passwd"})
    assert added == ["warning: /etc/postfix/sasl_passwd: expected format: key whitespace value"]
