# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The small DER reader, checked against certificates that cryptography builds and reads."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.mailops.smtp.plugins.module_utils import x509_der

KEY = ec.generate_private_key(ec.SECP256R1())
UTC = datetime.timezone.utc


def _name(*pairs):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def build(subject, issuer, sans=None, not_after=None, not_before=None):
    not_before = not_before or datetime.datetime(2024, 1, 1, tzinfo=UTC)
    not_after = not_after or datetime.datetime(2030, 6, 30, 12, 34, 56, tzinfo=UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(KEY.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    cert = builder.sign(KEY, hashes.SHA256())
    return cert, cert.public_bytes(serialization.Encoding.DER)


def expected_sans(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for gn in ext:
        if isinstance(gn, x509.DNSName):
            out.append("DNS:" + gn.value)
        elif isinstance(gn, x509.IPAddress):
            out.append("IP:" + str(gn.value))
        elif isinstance(gn, x509.RFC822Name):
            out.append("email:" + gn.value)
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append("URI:" + gn.value)
    return out


CASES = [
    (_name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Microsoft Corporation"),
           (NameOID.COMMON_NAME, "outlook.com")),
     _name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "DigiCert Inc"),
           (NameOID.COMMON_NAME, "DigiCert Cloud Services CA-1")),
     [x509.DNSName("*.office365.com"), x509.DNSName("smtp.office365.com"), x509.DNSName("outlook.com")]),
    (_name((NameOID.COMMON_NAME, "relay, internal+test")),
     _name((NameOID.COMMON_NAME, "mailops lab CA"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "Lab")),
     [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1")),
      x509.RFC822Name("ops@contoso.com"), x509.UniformResourceIdentifier("https://contoso.example/")]),
    (_name((NameOID.COMMON_NAME, "Zürich Mail Gateway"), (NameOID.LOCALITY_NAME, "Zürich")),
     _name((NameOID.COMMON_NAME, "self")), None),
]


@pytest.mark.parametrize("subject,issuer,sans", CASES)
def test_reader_agrees_with_cryptography(subject, issuer, sans):
    cert, der = build(subject, issuer, sans)
    got = x509_der.parse_certificate(der)
    assert got["subject"] == cert.subject.rfc4514_string()
    assert got["issuer"] == cert.issuer.rfc4514_string()
    assert got["san"] == expected_sans(cert)
    assert got["not_after"] == cert.not_valid_after_utc.replace(tzinfo=None)
    assert got["not_before"] == cert.not_valid_before_utc.replace(tzinfo=None)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert got["subject_cn"] == (cns[0].value if cns else None)


def test_generalized_time_after_2049():
    # RFC 5280: dates from 2050 on are GeneralizedTime, not UTCTime.
    cert, der = build(_name((NameOID.COMMON_NAME, "far")), _name((NameOID.COMMON_NAME, "ca")),
                      not_after=datetime.datetime(2051, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert x509_der.parse_certificate(der)["not_after"] == datetime.datetime(2051, 2, 3, 4, 5, 6)


@pytest.mark.parametrize("pattern_sans,host,expected", [
    (["DNS:smtp.office365.com"], "smtp.office365.com", True),
    (["DNS:SMTP.Office365.com"], "smtp.office365.com", True),
    (["DNS:*.office365.com"], "smtp.office365.com", True),
    (["DNS:*.office365.com"], "a.b.office365.com", False),
    (["DNS:*.office365.com"], "office365.com", False),
    (["DNS:*.com"], "office365.com", False),
    (["DNS:outlook.com"], "smtp.office365.com", False),
    (["IP:127.0.0.1"], "127.0.0.1", True),
    (["DNS:127.0.0.1"], "127.0.0.1", False),
    (["IP:::1"], "::1", True),
])
def test_hostname_matching(pattern_sans, host, expected):
    cert = {"san": pattern_sans, "subject_cn": None}
    assert x509_der.hostname_matches(cert, host) is expected


def test_common_name_is_used_only_without_dns_sans():
    assert x509_der.hostname_matches({"san": [], "subject_cn": "relay.contoso.com"}, "relay.contoso.com")
    assert not x509_der.hostname_matches({"san": ["DNS:other.contoso.com"], "subject_cn": "relay.contoso.com"},
                                         "relay.contoso.com")


@pytest.mark.parametrize("junk", [b"", b"\x30", b"\x30\x82\xff\xff\x00", b"\x04\x03abc", b"hello world" * 5])
def test_garbage_raises_der_error(junk):
    with pytest.raises(x509_der.DERError):
        x509_der.parse_certificate(junk)


def test_truncated_certificate_raises_der_error():
    _cert, der = build(*CASES[0])
    with pytest.raises(x509_der.DERError):
        x509_der.parse_certificate(der[: len(der) // 2])
