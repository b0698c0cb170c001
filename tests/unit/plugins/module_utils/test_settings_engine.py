# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the settings write engine (formats, merge, marker, atomic writes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic, _marker
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from ansible_collections.mailops.smtp.plugins.module_utils._mask import fingerprint
from tests.local_runner import run_local

REPO = Path(__file__).resolve().parents[4]
# A config dir of the tests' own: no test reads the machine's /etc/postfix.
POSTFIX_DATA = REPO / "tests" / "data" / "postfix"
SMTP = {"host": "smtp.office365.com", "port": 587}


def cred(pw="S3cret-pw!", version=3):
    return {"type": "basic", "username": "svc@contoso.com", "password": pw,
            "vault": {"path": "smtp/app", "mount": "secret", "version": version}}


def run(params, check=False):
    return engine.execute(params, "k", run_local, check_mode=check, want_diff=True)


def test_other_lines_kept_byte_for_byte_and_idempotent(tmp_path):
    f = tmp_path / "app.ini"
    original = "; top\r\n[a]\nx = 1   \n\n[mail]\nhost = old\nhost = dup\n  continued\n# c\n\n[z]\ny=2"
    f.write_bytes(original.encode())
    p = {"format": "ini", "section": "mail", "path": str(f), "credential": cred(), "smtp": SMTP,
         "keys": {"host": "host", "password": "password"}}
    s = run(p)
    assert s["changed"] and s["secret_changed"]
    text = f.read_bytes().decode()
    assert text.startswith("# managed by mailops.smtp: credential secret/smtp/app version 3 auth basic\n; top\r\n[a]\nx = 1   \n")
    assert "[mail]\nhost = smtp.office365.com\n# c\npassword = S3cret-pw!\n\n[z]\ny=2" in text
    again = run(p)
    assert not again["changed"]
    assert again["deployed"] == {"credential": "secret/smtp/app", "version": "3", "auth": "basic"}


@pytest.mark.parametrize("fmt,bad", [("env", "a\nb"), ("ini", "a\rb"), ("properties", "a\x00b"),
                                     ("json", "a\x00b")])
def test_uncarryable_value_refused_file_untouched(tmp_path, fmt, bad):
    f = tmp_path / "f"
    f.write_text("{}\n" if fmt == "json" else "KEEP=1\n")
    before = f.read_bytes()
    with pytest.raises(engine.SettingsError) as e:
        run({"format": fmt, "path": str(f), "credential": cred(bad), "smtp": SMTP, "keys": {"password": "P"}})
    assert bad not in str(e.value)
    assert f.read_bytes() == before
    assert not list(tmp_path.glob(".mailops-smtp-tmp-*"))


def test_marker_only_change_is_not_a_secret_change(tmp_path):
    f = tmp_path / ".env"
    p = {"format": "env", "path": str(f), "credential": cred(), "smtp": SMTP, "keys": {"password": "P"}}
    run(p)
    p["credential"] = cred(version=4)
    s = run(p, check=True)
    assert s["changed"] and not s["secret_changed"] and not s["content_changed"]
    assert s["deployed"]["version"] == "3" and s["version"]["version"] == "4"
    assert "version 3" in f.read_text()  # check mode wrote nothing


def test_diff_masks_secret_with_keyed_fingerprint(tmp_path):
    f = tmp_path / "gitlab.rb"
    f.write_text("gitlab_rails['smtp_password'] = 'old-secret'\n")
    s = run({"preset": "gitlab", "path": str(f), "credential": cred("new-secret"), "smtp": SMTP})
    d = s["diff"][-1]
    assert "old-secret" not in d["before"] and "new-secret" not in d["after"]
    assert "fingerprint:" in d["before"] and "fingerprint:" in d["after"]
    assert fingerprint("k", "x") != fingerprint("k2", "x")


def test_existing_mode_kept_new_file_gets_preset_default(tmp_path):
    old = tmp_path / "grafana.ini"
    old.write_text("[smtp]\n")
    old.chmod(0o604)
    run({"preset": "grafana", "path": str(old), "credential": cred(), "smtp": SMTP})
    assert oct(old.stat().st_mode & 0o777) == "0o604"
    new = tmp_path / "new.rb"
    run({"preset": "gitlab", "path": str(new), "credential": cred(), "smtp": SMTP})
    assert oct(new.stat().st_mode & 0o777) == "0o600"


def test_validate_failure_and_stale_cleanup(tmp_path):
    f = tmp_path / "app.properties"
    f.write_text("a=1\n")
    stale = tmp_path / (_atomic.TMP_PREFIX + "app.properties.dead")
    stale.write_text("left by a killed run")
    p = {"preset": "spring", "path": str(f), "credential": cred(), "smtp": SMTP, "validate": "false %s"}
    with pytest.raises(engine.SettingsError):
        run(p)
    assert f.read_text() == "a=1\n"
    assert not list(tmp_path.glob(_atomic.TMP_PREFIX + "*"))
    p["validate"] = "grep -q spring.mail.password %s"
    p["backup"] = True
    run(p)
    assert "spring.mail.password=" in f.read_text()
    assert len(list(tmp_path.glob("app.properties.*~"))) == 1


def test_postfix_oauth_points_to_connector(tmp_path):
    with pytest.raises(engine.SettingsError, match="connector"):
        run({"preset": "postfix", "path": str(tmp_path), "credential": cred(),
             "smtp": {"profile": "m365", "mechanism": "xoauth2"}})
    with pytest.raises(engine.SettingsError, match="connector"):
        run({"preset": "grafana", "path": str(tmp_path / "g.ini"), "credential": cred(),
             "smtp": {"profile": "m365", "mechanism": "xoauth2"}})


def test_postfix_connector_mode(tmp_path):
    (tmp_path / "main.cf").write_text("smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\nmyhostname = h\n")
    os.utime(tmp_path / "main.cf", (0, 0))
    (tmp_path / "master.cf").write_bytes((POSTFIX_DATA / "master.cf").read_bytes())
    s = run({"preset": "postfix", "path": str(tmp_path), "credential": None,
             "smtp": {"profile": "m365_connector", "from_address": "alerts@contoso.com"},
             "options": {"mode": "connector", "tenant": "contoso.com", "client_cert": "/etc/ssl/c.pem"}})
    assert s["changed"] and s["version"] == {"credential": "none", "version": "none"}
    out = subprocess.run(["postconf", "-c", str(tmp_path), "-n"], capture_output=True, text=True, check=True).stdout
    assert "relayhost = [contoso-com.mail.protection.outlook.com]:25" in out
    assert "smtp_sasl_password_maps" not in out and "smtp_sasl_auth_enable = no" in out
    assert "smtp_tls_cert_file = /etc/ssl/c.pem" in out
    assert not (tmp_path / "sasl_passwd").exists()


def test_postconf_warning_the_new_content_adds_is_fatal(tmp_path):
    # Issue 15 item 7: a warning the existing main.cf already gives (here "unused
    # parameter") no longer fails the write; one that only the candidate gives does.
    # No preset value makes postconf warn, so the candidate's check gets one more line.
    (tmp_path / "main.cf").write_text("bogus_parameter_xyz = 1\n")
    (tmp_path / "master.cf").write_bytes((POSTFIX_DATA / "master.cf").read_bytes())
    before = (tmp_path / "main.cf").read_bytes()

    def run_with_new_warning(argv, timeout=None):
        rc, out, err = run_local(argv)
        if argv[:1] == ["postconf"] and ".mailops-smtp-tmp-" in argv[2] and argv[3] == "-n":
            err += "postconf: warning: %s/main.cf: unused parameter: smtp_password_typo=hunter2\n" % argv[2]
        return rc, out, err

    p = {"preset": "postfix", "path": str(tmp_path), "credential": cred(), "smtp": SMTP,
         "options": {"map_type": "hash"}}
    with pytest.raises(engine.SettingsError, match="postconf -n rejected") as e:
        engine.execute(p, "k", run_with_new_warning)
    assert "smtp_password_typo=(masked)" in str(e.value) and "hunter2" not in str(e.value)
    assert "bogus_parameter_xyz" not in str(e.value)
    assert (tmp_path / "main.cf").read_bytes() == before
    assert not (tmp_path / "sasl_passwd").exists() and not (tmp_path / "sasl_passwd.db").exists()
    run(p)
    assert "relayhost = [smtp.office365.com]:587" in (tmp_path / "main.cf").read_text()


def test_msmtp_oauth_and_default_account(tmp_path):
    f = tmp_path / "msmtprc"
    f.write_text("account default : old\naccount mailops\npassword \"x\"\n")
    run({"preset": "msmtp", "path": str(f), "credential": cred(), "smtp": {"profile": "m365", "mechanism": "xoauth2"},
         "options": {"default_account": True}})
    text = f.read_text()
    assert "auth xoauth2\n" in text and 'passwordeval "cat /var/lib/mailops-smtp/mailops.token"' in text
    assert "password \"x\"" not in text and text.endswith("account default : mailops\n")
    assert text.count("account default") == 1


def test_marker_describe():
    assert _marker.describe(None) == ("none", "none")
    assert _marker.describe({"password": "x"}) == ("inline", "none")
    assert _marker.parse("# managed by mailops.smtp: credential kv/a version 9\n") == {"credential": "kv/a", "version": "9"}


def test_target_side_code_runs_on_python38():
    py38 = "/root/.pyenv/versions/3.8.18/bin/python3.8"
    if not os.path.exists(py38):
        pytest.skip("Python 3.8 not installed")
    files = [str(p) for p in (REPO / "plugins" / "module_utils").glob("_*.py")
             if p.name.startswith(("_atomic", "_formats", "_marker", "_mask", "_observe", "_presets", "_settings"))]
    files.append(str(REPO / "plugins" / "modules" / "settings.py"))
    subprocess.run([py38, "-m", "py_compile"] + files, check=True)
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine\n") % str(REPO / ".build" / "collections")
    env = dict(os.environ, PYTHONPATH="")
    subprocess.run([py38, "-c", code], check=True, env=env)


@pytest.fixture
def module():
    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args
    with patch_module_args({}):
        yield basic.AnsibleModule(argument_spec={})


def test_module_runner_runs_commands_through_run_command(module):
    run = engine.module_runner(module)
    assert run(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
    assert run(["sh", "-c", "echo ok"], timeout=60) == (0, "ok\n", "")


def test_module_runner_kills_a_command_past_its_timeout(module):
    rc, out, err = engine.module_runner(module)(["sh", "-c", "echo started; exec sleep 30"], timeout=1)
    assert (rc, out) == (124, "started\n")
    assert err == "sh timed out after 1s"


def test_validate_goes_through_the_runner(tmp_path):
    calls = []

    def fake_run(argv, timeout=None):
        calls.append((argv, timeout))
        return 1, "secret output", "secret error"

    with pytest.raises(_atomic.AtomicError) as err:
        _atomic.validate(str(tmp_path / "cand"), "checker -q '%s'", fake_run)
    assert calls == [(["checker", "-q", str(tmp_path / "cand")], _atomic.VALIDATE_TIMEOUT)]
    assert "rc=1" in str(err.value) and "secret" not in str(err.value)
