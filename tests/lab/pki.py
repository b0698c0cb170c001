# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-run test PKI for the lab: a CA and leaf certificates, never committed.

Everything is generated into the lab's state directory on every `lab-up`.

`exchange_online_leaf` gives the SMTP stand-in the shape of Microsoft's certificate as public
transcripts show it: RSA, `CN=outlook.com`, wildcard SANs (`*.office365.com` ...), issued by an
intermediate CA (DigiCert's "Cloud Services CA-1" in the wild), the chain sent by the server.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: Path
    key: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _write_key(key, path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def _write_cert(cert, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# The names of Microsoft's SMTP certificate (subject CN first), as seen for smtp.office365.com.
EXCHANGE_ONLINE_NAMES = ["outlook.com", "*.outlook.com", "*.office365.com", "office365.com",
                         "*.outlook.office365.com", "outlook.office365.com", "*.protection.outlook.com"]


class CA:
    """A certificate authority whose key stays in the lab directory (a root, or an
    intermediate when `parent` signs it)."""

    def __init__(self, directory: Path, name: str = "mailops lab CA", parent: "CA | None" = None):
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.parent = parent
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailops lab")])
        issuer_name = parent.cert.subject if parent else subject
        signing_key = parent.key if parent else self.key
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0 if parent else 1), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
        )
        if parent:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False)
        self.cert = builder.sign(signing_key, hashes.SHA256())
        slug = name.replace(" ", "-")
        self.cert_path = directory / f"{slug}.pem"
        self.key_path = directory / f"{slug}.key"
        _write_cert(self.cert, self.cert_path)
        _write_key(self.key, self.key_path)

    def intermediate(self, name: str) -> "CA":
        """An intermediate CA under this one, in its own subdirectory."""
        return CA(self.dir / name.replace(" ", "-"), name, parent=self)

    def issue(self, stem: str, names: list[str], *, client: bool = False,
              not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None, key_type: str = "ec") -> Issued:
        """Issue a leaf for DNS names and IP addresses; the first name is the CN.

        An intermediate's leaf file holds the leaf then the intermediate: the chain a server
        sends, so clients that trust only the root verify it."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_type == "rsa" \
            else ec.generate_private_key(ec.SECP256R1())
        now = _now()
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        usage = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(hours=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        issued = Issued(self.dir / f"{stem}.pem", self.dir / f"{stem}.key")
        _write_cert(cert, issued.cert)
        if self.parent is not None:
            with issued.cert.open("ab") as fh:
                fh.write(self.cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, issued.key)
        return issued


def exchange_online_leaf(root: CA, extra_names: list[str] = ()) -> Issued:
    """The SMTP stand-in's certificate in the shape of Microsoft's (see the module docstring);
    extra_names (such as a local test address) are added to the SANs."""
    intermediate = root.intermediate("mailops lab Cloud Services CA-1")
    return intermediate.issue("outlook.com", EXCHANGE_ONLINE_NAMES + list(extra_names), key_type="rsa")
