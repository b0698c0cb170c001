# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab CA in a lab host's system trust store, for applications that take no extra CA.

Grafana, Spring, Laravel, Django and Nextcloud verify a server against the system store only
(docs/configure.md), so an application host that talks to the stand-ins (or to a remote relay
whose certificate the lab CA issued) must trust the lab CA the way Debian adds a company CA:
the certificate under /usr/local/share/ca-certificates and `update-ca-certificates`, which
rebuilds /etc/ssl/certs (OpenSSL's store, which PHP, Ruby, Python and Go read). Java's own store,
/etc/ssl/certs/java/cacerts, is updated by keytool: Debian's hook for it (ca-certificates-java)
runs pending dpkg triggers, which a lab host must not do, so hooks are skipped.

Every write lands in the host's own overlays over /etc and /usr/local (docs/lab.md): the
machine's trust store is never touched. `untrust` puts the host back.
"""

from __future__ import annotations

from contextlib import contextmanager

ANCHOR = "/usr/local/share/ca-certificates/mailops-lab-ca.crt"
JAVA_STORE = "/etc/ssl/certs/java/cacerts"
ALIAS = "mailops-lab-ca"
# update-ca-certificates without its hooks (an empty hooks directory).
UPDATE = 'hooks=$(mktemp -d) && update-ca-certificates --hooksdir "$hooks" >/dev/null; rc=$?; rmdir "$hooks"; exit $rc'
TRUST = f"""set -e
install -D -m 0644 "$1" {ANCHOR}
sh -c '{UPDATE}'
keytool -delete -noprompt -alias {ALIAS} -keystore {JAVA_STORE} -storepass changeit >/dev/null 2>&1 || true
keytool -importcert -noprompt -alias {ALIAS} -file "$1" -keystore {JAVA_STORE} -storepass changeit >/dev/null
"""
UNTRUST = f"""rm -f {ANCHOR}
sh -c '{UPDATE}' || exit 1
keytool -delete -noprompt -alias {ALIAS} -keystore {JAVA_STORE} -storepass changeit >/dev/null 2>&1 || true
"""


def trust(lab, host: str) -> None:
    """Add the lab CA to `host`'s system trust store (OpenSSL's and Java's)."""
    lab.host_run(host, ["sh", "-c", TRUST, "sh", lab.ca], timeout=120)


def untrust(lab, host: str) -> None:
    """Take the lab CA out of `host`'s system trust store again."""
    lab.host_run(host, ["sh", "-c", UNTRUST], timeout=120)


@contextmanager
def lab_ca_trusted(lab, host: str):
    trust(lab, host)
    try:
        yield host
    finally:
        untrust(lab, host)
