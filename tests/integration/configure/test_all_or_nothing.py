# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A host is all or nothing: a third app refused for its parameters leaves the first two files
byte for byte (issue 18). Django refuses smtp.ca_path: it reads only the system trust store."""

from __future__ import annotations

from .conftest import read_file, sha256s, write_file

HOST = "host1"
ENV = "/root/mailops-aon.env"
INI = "/root/mailops-aon.ini"
DJANGO = "/root/mailops_aon_settings.py"


def test_a_refused_third_app_leaves_the_first_two_files_byte_for_byte(lab, configure, basic_cred, base_vars):
    write_file(lab, HOST, ENV, "APP_NAME=shop\nSMTP_HOST=old.example\n")
    write_file(lab, HOST, INI, "[mail]\nhost = old.example\n")
    lab.host_run(HOST, ["rm", "-f", DJANGO])
    before = sha256s(lab, HOST, [ENV, INI, DJANGO])
    apps = [{"name": "shop env", "format": "env", "path": ENV,
             "keys": {"host": "SMTP_HOST", "username": "SMTP_USER", "password": "SMTP_PASSWORD"}},
            {"name": "shop ini", "format": "ini", "section": "mail", "path": INI,
             "keys": {"host": "host", "password": "password"}},
            # base_vars sets smtp_configure_ca_path (the lab CA), which Django cannot take.
            {"name": "shop django", "preset": "django", "path": DJANGO}]
    try:
        run = configure.run(HOST, dict(base_vars, smtp_configure_credential=basic_cred, smtp_configure_apps=apps))
        assert run.rc != 0
        assert run.stats(HOST)["failed"] == 1
        assert sha256s(lab, HOST, [ENV, INI, DJANGO]) == before, read_file(lab, HOST, ENV)
        assert "shop django: preset django has no setting for an extra CA" in run.output
        assert "no file of this host was written" in run.output
        assert basic_cred["password"] not in run.output
    finally:
        lab.host_run(HOST, ["rm", "-f", ENV, INI, DJANGO])
