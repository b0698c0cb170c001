# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15 items 2, 3, 4, 5 and 7 on lab hosts, through ansible-playbook and the action plugin.

Everything is written below a directory of the test's own (no /etc file is touched): /srv on
host1 (per-host overlay), /tmp (one filesystem that host1 and host2 share) for the concurrent
writers, and a Postfix config dir of the test's own for postmap/postconf.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
POSTFIX_DATA = REPO / "tests" / "data" / "postfix"
PW = "I15b-lab-pw-%s" % uuid.uuid4().hex[:10]
FOREIGN = {
    "app_key": "base64:Zm9yZWlnbi1hcHAta2V5LSVz%s" % uuid.uuid4().hex[:8],
    "db": "db-foreign-%s" % uuid.uuid4().hex[:8],
    "alice": "alice-foreign-%s" % uuid.uuid4().hex[:8],
    "bob_user": "bob-%s@example.org" % uuid.uuid4().hex[:6],
}
CRED = {"type": "basic", "username": "svc@contoso.com", "password": PW,
        "vault": {"path": "smtp/i15b", "mount": "secret", "version": 1}}
SMTP = {"host": "smtp.office365.com", "port": 587}


def sh(lab, host, script, *args, input=None, check=True):
    return lab.host_run(host, ["sh", "-c", script, "sh", *args], input=input, check=check)


@pytest.fixture
def workdir(lab):
    d = "/srv/i15b-%s" % uuid.uuid4().hex[:8]
    sh(lab, "host1", 'mkdir -p "$1"', d)
    yield d
    sh(lab, "host1", 'rm -rf "$1"', d)


def play(lab, tmp_path, tasks, hosts="host1", args=(), env=None, name="play"):
    """Run tasks (a list of dicts) through ansible-playbook; variables travel in a 0600 file."""
    vars_file = tmp_path / (name + "-vars.json")
    vars_file.write_text(json.dumps({"cred": CRED}))
    vars_file.chmod(0o600)
    pb = tmp_path / (name + ".yml")
    pb.write_text(json.dumps([{"hosts": hosts, "gather_facts": False, "tasks": tasks}]))
    return lab.ansible([str(pb), "-e", "@%s" % vars_file, *args], extra_env=env or {})


def settings(**kw):
    kw.setdefault("credential", "{{ cred }}")
    kw.setdefault("smtp", SMTP)
    return {"name": "write", "mailops.smtp.settings": kw, "register": "r"}


def test_pipelining_off_warns_once_and_can_be_required(lab, tmp_path, workdir):
    tasks = [settings(preset="laravel", path=workdir + "/a.env"), settings(preset="laravel", path=workdir + "/b.env")]
    off = {"ANSIBLE_PIPELINING": "false"}
    warned = play(lab, tmp_path, tasks, env=off, name="off")
    assert warned.returncode == 0, warned.stdout[-3000:]
    out = warned.stdout + warned.stderr
    assert out.count("pipelining is off, so Ansible copies each module") == 1, out[-3000:]
    assert PW not in out
    refused = play(lab, tmp_path, [settings(preset="laravel", path=workdir + "/c.env")], env=off,
                   args=["-e", "mailops_smtp_require_pipelining=true"], name="refused")
    assert refused.returncode != 0
    assert "mailops_smtp_require_pipelining is true and pipelining is off" in refused.stdout + refused.stderr
    assert sh(lab, "host1", 'test -e "$1" && echo yes || echo no', workdir + "/c.env").stdout.strip() == "no"
    on = play(lab, tmp_path, [settings(preset="laravel", path=workdir + "/c.env")],
              args=["-e", "mailops_smtp_require_pipelining=true"], name="on")
    assert on.returncode == 0, on.stdout[-3000:]
    assert "pipelining is off" not in on.stdout + on.stderr


def test_foreign_secrets_stay_out_of_diff_and_raw_module_json(lab, tmp_path, workdir):
    env = "APP_KEY=%s\nDB_PASSWORD=%s\nMAIL_HOST=old\n" % (FOREIGN["app_key"], FOREIGN["db"])
    rc = ("account personal\nhost mail.example.net\nuser alice@example.net\npassword \"%s\"\n\n"
          "account backup\nhost mail.example.org\nuser %s\npasswordeval \"cat /root/bob\"\n"
          % (FOREIGN["alice"], FOREIGN["bob_user"]))
    sh(lab, "host1", 'cat > "$1"', workdir + "/.env", input=env)
    sh(lab, "host1", 'cat > "$1"', workdir + "/msmtprc", input=rc)
    sh(lab, "host1", 'cat > "$1"', workdir + "/oauth-msmtprc", input=rc)
    oauth = {"type": "oauth2", "username": "svc@contoso.com", "tenant_id": "contoso.onmicrosoft.com",
             "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "cs-" + PW}
    tasks = [settings(preset="laravel", path=workdir + "/.env"),
             settings(preset="msmtp", path=workdir + "/msmtprc", smtp={"profile": "m365"}),
             settings(preset="msmtp", path=workdir + "/oauth-msmtprc", credential=oauth,
                      smtp={"profile": "m365", "mechanism": "xoauth2"}, options={"account": "app2"})]
    p = play(lab, tmp_path, tasks, args=["--diff", "-vvv"], name="diff")
    assert p.returncode == 0, p.stdout[-3000:]
    out = p.stdout + p.stderr
    assert "APP_KEY=fingerprint:" in out and "password fingerprint:" in out
    for secret in list(FOREIGN.values()) + [PW, "alice@example.net"]:
        assert secret not in out, secret
    # The files themselves keep every foreign line.
    assert FOREIGN["app_key"] in sh(lab, "host1", 'cat "$1"', workdir + "/.env").stdout
    assert FOREIGN["alice"] in sh(lab, "host1", 'cat "$1"', workdir + "/oauth-msmtprc").stdout


def test_symlink_refused_then_followed_keeping_the_link(lab, tmp_path, workdir):
    sh(lab, "host1", 'mkdir -p "$1/shared" "$1/current" && printf "APP_KEY=keep\\nk: 1\\n" > "$1/shared/.env" '
                     '&& echo "k: 1" > "$1/shared/app.yml" && ln -s "$1/shared/.env" "$1/current/.env" '
                     '&& ln -s "$1/shared/app.yml" "$1/current/app.yml"', workdir)
    yaml_task = settings(format="yaml", path=workdir + "/current/app.yml", keys={"password": "mail.password"})
    tasks = [dict(settings(preset="laravel", path=workdir + "/current/.env"), ignore_errors=True, register="a"),
             dict(yaml_task, ignore_errors=True, register="b"),
             {"name": "keep", "ansible.builtin.copy": {"content": "{{ [a, b] | to_json }}",
                                                       "dest": workdir + "/refused.json", "mode": "0600"}}]
    p = play(lab, tmp_path, tasks, name="refused")
    assert p.returncode == 0, p.stdout[-3000:]
    a, b = json.loads(sh(lab, "host1", 'cat "$1"', workdir + "/refused.json").stdout)
    for r in (a, b):
        assert r["failed"] and "is a symbolic link" in r["msg"] and "follow: true" in r["msg"]
    follow = [settings(preset="laravel", path=workdir + "/current/.env", follow=True),
              dict(yaml_task, **{"mailops.smtp.settings": dict(yaml_task["mailops.smtp.settings"], follow=True)})]
    p = play(lab, tmp_path, follow, name="follow")
    assert p.returncode == 0, p.stdout[-3000:]
    check = sh(lab, "host1", 'cd "$1" && readlink current/.env current/app.yml && cat shared/.env shared/app.yml '
                             '&& stat -c %a shared/.env && ls -a shared current', workdir).stdout
    assert "%s/shared/.env\n%s/shared/app.yml\n" % (workdir, workdir) in check
    assert 'MAIL_PASSWORD="%s"' % PW in check and "APP_KEY=keep" in check and "password: %s" % PW in check
    assert ".mailops-smtp-tmp-" not in check


def test_fifo_destination_fails_fast(lab, tmp_path, workdir):
    sh(lab, "host1", 'mkfifo "$1/.env" "$1/app.yml"', workdir)
    tasks = [dict(settings(preset="laravel", path=workdir + "/.env"), ignore_errors=True, register="a"),
             dict(settings(format="yaml", path=workdir + "/app.yml", keys={"password": "p"}), ignore_errors=True,
                  register="b"),
             {"name": "keep", "ansible.builtin.copy": {"content": "{{ [a, b] | to_json }}",
                                                       "dest": workdir + "/r.json", "mode": "0600"}}]
    p = play(lab, tmp_path, tasks, name="fifo")
    assert p.returncode == 0, p.stdout[-3000:]
    for r in json.loads(sh(lab, "host1", 'cat "$1"', workdir + "/r.json").stdout):
        assert r["failed"] and "is a FIFO, not a regular file" in r["msg"]


def test_concurrent_writers_on_two_hosts_keep_every_change(lab, tmp_path):
    """host1 and host2 share /tmp: both write different keys of one file at the same time."""
    d = "/tmp/i15b-shared-%s" % uuid.uuid4().hex[:8]
    sh(lab, "host1", 'mkdir -p "$1" && echo KEEP=1 > "$1/app.env"', d)
    try:
        task = {"name": "write one key per host and round", "loop": [1, 2, 3, 4], "register": "r",
                "mailops.smtp.settings": {"format": "env", "path": d + "/app.env", "credential": "{{ cred }}",
                                          "keys": {"password": "{{ inventory_hostname | upper }}_PW_{{ item }}"}}}
        p = play(lab, tmp_path, [task], hosts="host1,host2", args=["-f", "2"], name="race")
        assert p.returncode == 0, p.stdout[-3000:]
        assert p.stdout.count("changed: [host") >= 8, p.stdout[-3000:]
        text = sh(lab, "host2", 'cat "$1/app.env"; ls -a "$1"', d).stdout
        for host in ("HOST1", "HOST2"):
            for i in range(1, 5):
                assert '%s_PW_%d="%s"' % (host, i, PW) in text, text
        assert "KEEP=1" in text and ".mailops-smtp-tmp-" not in text
    finally:
        sh(lab, "host1", 'rm -rf "$1"', d)


def test_postfix_instance_with_a_duplicate_entry_is_written(lab, tmp_path, workdir):
    cfg = workdir + "/postfix"
    main = (POSTFIX_DATA / "main.cf").read_text() + "myhostname = again.example.test\n"
    sh(lab, "host1", 'mkdir -p "$1" && cat > "$1/main.cf" && touch -d "1 hour ago" "$1/main.cf"', cfg, input=main)
    sh(lab, "host1", 'cat > "$1/master.cf"', cfg, input=(POSTFIX_DATA / "master.cf").read_text())
    assert "overriding earlier entry" in sh(lab, "host1", 'postconf -c "$1" -n 2>&1', cfg).stdout
    p = play(lab, tmp_path, [settings(preset="postfix", path=cfg)], name="postfix")
    assert p.returncode == 0, p.stdout[-3000:]
    q = sh(lab, "host1", 'postmap -c "$1" -q "[smtp.office365.com]:587" "$(postconf -c "$1" -h default_database_type)'
                         ':$1/sasl_passwd"', cfg).stdout
    assert q.strip() == "svc@contoso.com:%s" % PW
