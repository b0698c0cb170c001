# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applications on the lab hosts, as a plain Debian install has them.

On top of Debian's "Local only" Postfix, the lab adds only what the lab itself
needs; configuring the relay is the product's job, not the lab's.
"""

from __future__ import annotations

from .sysutil import in_host, run

# Why each lab-only setting exists:
#   smtp_host_lookup/smtp_dns_support_level: the lab has no DNS; use /etc/hosts.
#   maillog_file: no syslog daemon runs in a lab host.
#   *_backoff_time: deferred mail is retried within a test's patience.
LAB_POSTFIX_SETTINGS = [
    "smtp_host_lookup=native",
    "smtp_dns_support_level=disabled",
    "maillog_file=/var/log/postfix.log",
    "minimal_backoff_time=5s",
    "maximal_backoff_time=10s",
    "queue_run_delay=5s",
]


def start_postfix(host: dict) -> None:
    pid = host["pid"]
    run(in_host(pid, ["postconf", "-e", *LAB_POSTFIX_SETTINGS]))
    # A chrooted smtp client would not read the host's own /etc/hosts.
    run(in_host(pid, ["postconf", "-F", "smtp/unix/chroot=n"]))
    run(in_host(pid, ["postfix", "start"]), timeout=60)


def host_exec(host: dict, cmd: list[str], **kw):
    return run(in_host(host["pid"], cmd), **kw)
