# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The postconf module's reading of postconf's output and its plan of changes."""

from __future__ import annotations

from ansible_collections.mailops.smtp.plugins.modules.postconf import normalize, parse_main, parse_master, plan

MAIN = "inet_interfaces = loopback-only\nrelayhost =\nmynetworks = 127.0.0.0/8 [::1]/128\n"
MASTER = ("smtp       inet  n       -       y       -       -       smtpd\n"
          "mailops_xoauth2 unix - n n - 2 pipe flags=q user=mailops-relay argv=/usr/bin/python3 /x --"
          " ${sender} ${recipient}\n")


def test_postconf_output_is_read():
    assert parse_main(MAIN) == {"inet_interfaces": "loopback-only", "relayhost": "",
                                "mynetworks": "127.0.0.0/8 [::1]/128"}
    m = parse_master(MASTER)
    assert m["smtp/inet"] == "smtp inet n - y - - smtpd"
    assert m["mailops_xoauth2/unix"].endswith("${sender} ${recipient}")


def test_only_what_differs_changes():
    main, master = parse_main(MAIN), parse_master(MASTER)
    want_main = {"inet_interfaces": "loopback-only", "mynetworks": "127.0.0.0/8", "relayhost": None,
                 "default_transport": None}
    want_master = {"mailops_xoauth2/unix": normalize(MASTER.splitlines()[1]).replace(" 2 pipe", " 1 pipe"),
                   "smtp/inet": "smtp  inet n - y - - smtpd", "old/unix": None}
    assert plan(main, master, want_main, want_master) == (["mynetworks"], ["relayhost"],
                                                          ["mailops_xoauth2/unix"], [])


def test_nothing_to_do_is_no_change():
    main, master = parse_main(MAIN), parse_master(MASTER)
    assert plan(main, master, dict(main), dict(master)) == ([], [], [], [])
