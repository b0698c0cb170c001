# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The CA files the smtp_configure role puts into a host's system trust store (plugin_utils/_trust_store.py)."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.mailops.smtp.plugins.plugin_utils._trust_store import (
    TrustStoreError, system_ca_files)

NOW = datetime.datetime(2026, 12, 7, 9, 0)


def _ca(name: str = "Contoso Root CA", days: int = 365) -> tuple[str, str]:
    """(certificate PEM, key PEM) of a self-signed CA valid from NOW - 1 day for `days` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = NOW - datetime.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


CA_PEM, CA_KEY = _ca()
OTHER_PEM = _ca("Fabrikam CA")[0]


def test_each_ca_becomes_one_crt_file_in_the_stores_directory():
    files = system_ca_files([{"name": "contoso-root", "content": CA_PEM},
                             {"name": "old-proxy-ca.crt", "state": "absent"}], now=NOW)
    assert [(f["name"], f["path"], f["state"]) for f in files] == [
        ("contoso-root", "/usr/local/share/ca-certificates/contoso-root.crt", "present"),
        ("old-proxy-ca", "/usr/local/share/ca-certificates/old-proxy-ca.crt", "absent")]
    assert files[0]["subject"] == "CN=Contoso Root CA"
    assert files[1]["content"] is None


def test_the_same_certificate_always_gives_the_same_file():
    # Windows line ends, indentation and a text preamble (openssl x509 -text) change nothing: idempotent.
    messy = "Certificate:\n    Data: ...\n" + "\r\n".join("  " + ln for ln in CA_PEM.splitlines()) + "\r\n\r\n"
    a = system_ca_files([{"name": "c", "content": CA_PEM}], now=NOW)[0]["content"]
    b = system_ca_files([{"name": "c", "content": messy}], now=NOW)[0]["content"]
    assert a == b
    assert a.startswith("-----BEGIN CERTIFICATE-----\n") and a.endswith("-----END CERTIFICATE-----\n")
    assert all(len(line) <= 64 for line in a.splitlines())


def test_another_directory():
    f = system_ca_files([{"name": "c", "content": CA_PEM}], "/etc/pki/ca-trust/source/anchors/", now=NOW)[0]
    assert f["path"] == "/etc/pki/ca-trust/source/anchors/c.crt"


@pytest.mark.parametrize("items, words", [
    ([{"name": "c", "content": CA_PEM + CA_KEY}], "private key"),
    ([{"name": "c", "content": CA_PEM + OTHER_PEM}], "exactly one PEM certificate"),
    ([{"name": "c", "content": "not a certificate"}], "exactly one PEM certificate"),
    ([{"name": "c"}], "exactly one PEM certificate"),
    ([{"name": "c", "content": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}], "cannot be read"),
    ([{"name": "../etc/passwd", "content": CA_PEM}], "letters, digits"),
    ([{"name": "", "content": CA_PEM}], "letters, digits"),
    ([{"name": "c", "content": CA_PEM}, {"name": "c.crt", "state": "absent"}], "given twice"),
    ([{"name": "c", "content": CA_PEM, "state": "latest"}], "present or absent"),
    (["contoso-root"], "each item"),
])
def test_what_cannot_go_into_the_store_is_refused(items, words):
    with pytest.raises(TrustStoreError, match=words):
        system_ca_files(items, now=NOW)


def test_an_expired_ca_is_refused():
    expired = _ca(days=0)[0]
    with pytest.raises(TrustStoreError, match="expired"):
        system_ca_files([{"name": "c", "content": expired}], now=NOW)


def test_a_relative_directory_is_refused():
    with pytest.raises(TrustStoreError, match="absolute"):
        system_ca_files([], "ca-certificates")
