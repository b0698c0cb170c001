# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deliberately bad certificates for the lab's TLS fault modes.

Each one fails a client's verification for exactly one reason, so a test can tell the
reasons apart:

* ``expired``    - issued by the lab CA for the right names, validity ended yesterday;
* ``wrong_name`` - issued by the lab CA, valid, but for a name nobody connects to;
* ``untrusted``  - right names and dates, but signed by a second CA that no client trusts
                   (what TLS interception by a proxy looks like).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.lab.pki import CA, Issued

KINDS = ("expired", "wrong_name", "untrusted")
WRONG_NAME = "wrong-name.invalid"


def load_ca(cert_path: Path, key_path: Path, directory: Path) -> CA:
    """Rebuild a CA object from the lab's CA files, so it can issue more leaves."""
    ca = CA.__new__(CA)
    directory.mkdir(parents=True, exist_ok=True)
    ca.dir = directory
    ca.parent = None
    ca.cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    ca.key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    ca.cert_path = Path(cert_path)
    ca.key_path = Path(key_path)
    return ca


def issue_bad(ca: CA, directory: Path, stem: str, names: list[str]) -> dict[str, Issued]:
    """Issue the three bad leaves for `names` into `directory`; returns kind -> Issued."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    out = {
        "expired": ca.issue(f"{stem}-expired", names,
                            not_before=now - datetime.timedelta(days=10),
                            not_after=now - datetime.timedelta(days=1)),
        "wrong_name": ca.issue(f"{stem}-wrong-name", [WRONG_NAME]),
    }
    rogue = CA(directory / "untrusted-ca", name="mailops untrusted CA")
    out["untrusted"] = rogue.issue(f"{stem}-untrusted", names)
    return out


def untrusted_client_cert(directory: Path, name: str = "rogue-client") -> Issued:
    """A client certificate from a CA the connector does not trust."""
    rogue = CA(directory / "untrusted-client-ca", name="mailops untrusted client CA")
    return rogue.issue(name, [name], client=True)
