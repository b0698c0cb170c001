# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small DER reader for X.509 certificates: subject, issuer, SANs, validity.

The standard library gives the peer certificate's DER bytes even after an
unverified handshake, but cannot parse them (ssl's decoder wants a verified
connection or a private API). This reads only what the probe reports.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import socket

_OID_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}
_OID_SAN = "2.5.29.17"
_OID_CN = "2.5.4.3"


class DERError(ValueError):
    """The bytes are not a certificate this reader understands."""


def _read_tlv(data, pos):
    """Return (tag, value_start, value_end) of the element at pos."""
    if pos + 2 > len(data):
        raise DERError("truncated element at offset %d" % pos)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte tags are not used in certificates")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise DERError("bad length at offset %d" % pos)
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise DERError("element overruns the data at offset %d" % pos)
    return tag, pos, end


def _children(data, start, end):
    out = []
    pos = start
    # Bounded by the data: every element advances pos by at least 2 bytes.
    while pos < end:
        tag, vs, ve = _read_tlv(data, pos)
        out.append((tag, vs, ve))
        pos = ve
    return out


def _oid(raw):
    if not raw:
        raise DERError("empty OID")
    first = raw[0]
    parts = [str(min(first // 40, 2)), str(first - 40 * min(first // 40, 2))]
    val = 0
    for b in raw[1:]:
        val = (val << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(str(val))
            val = 0
    return ".".join(parts)


def _string(tag, raw):
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", "replace")
    if tag == 0x14:  # T61String: in practice Latin-1
        return raw.decode("latin-1")
    return raw.decode("utf-8", "replace")


def _escape_rdn_value(value):
    # RFC 4514 section 2.4 escaping.
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;':
            out.append("\\" + ch)
        elif ch == "#" and i == 0:
            out.append("\\#")
        elif ch == " " and (i == 0 or i == len(value) - 1):
            out.append("\\ ")
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def _name(data, start, end):
    """Return (RFC 4514 string, list of (oid, value) in DER order)."""
    rdns = []
    attrs = []
    for _tag, rs, re_ in _children(data, start, end):  # each RDN is a SET
        parts = []
        for _t, as_, ae in _children(data, rs, re_):  # AttributeTypeAndValue
            kids = _children(data, as_, ae)
            if len(kids) < 2:
                raise DERError("bad attribute in a name")
            oid = _oid(data[kids[0][1]:kids[0][2]])
            vtag, vs, ve = kids[1]
            value = _string(vtag, bytes(data[vs:ve]))
            attrs.append((oid, value))
            parts.append("%s=%s" % (_OID_NAMES.get(oid, oid), _escape_rdn_value(value)))
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns)), attrs


def _time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[0:2])
        year += 2000 if year < 50 else 1900
        rest = text[2:]
    elif tag == 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        year = int(text[0:4])
        rest = text[4:]
    else:
        raise DERError("unexpected time tag 0x%02x" % tag)
    if not rest.endswith("Z") or len(rest) < 11:
        raise DERError("time %r is not in UTC" % text)
    return datetime.datetime(year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]),
                             int(rest[6:8]), int(rest[8:10]))


def _san(data, start, end):
    names = []
    for tag, vs, ve in _children(data, start, end):
        raw = bytes(data[vs:ve])
        if tag == 0x82:  # dNSName
            names.append("DNS:" + raw.decode("ascii", "replace"))
        elif tag == 0x87:  # iPAddress
            if len(raw) == 4:
                names.append("IP:" + socket.inet_ntop(socket.AF_INET, raw))
            elif len(raw) == 16:
                names.append("IP:" + socket.inet_ntop(socket.AF_INET6, raw))
        elif tag == 0x81:  # rfc822Name
            names.append("email:" + raw.decode("ascii", "replace"))
        elif tag == 0x86:  # URI
            names.append("URI:" + raw.decode("ascii", "replace"))
    return names


def parse_certificate(der):
    """Read a DER certificate.

    Returns a dict: subject and issuer (RFC 4514 strings), subject_cn, issuer_cn,
    san (list of "DNS:name" / "IP:addr" strings), not_before and not_after
    (naive UTC datetimes). Raises DERError on anything it cannot read.
    """
    data = bytearray(der)
    try:
        tag, cs, ce = _read_tlv(data, 0)
        if tag != 0x30:
            raise DERError("not a certificate (no outer SEQUENCE)")
        tbs = _children(data, cs, ce)[0]
        fields = _children(data, tbs[1], tbs[2])
        idx = 0
        if fields[0][0] == 0xA0:  # [0] version
            idx = 1
        # serialNumber, signature, issuer, validity, subject, spki
        issuer_f = fields[idx + 2]
        validity_f = fields[idx + 3]
        subject_f = fields[idx + 4]
        issuer, issuer_attrs = _name(data, issuer_f[1], issuer_f[2])
        subject, subject_attrs = _name(data, subject_f[1], subject_f[2])
        times = _children(data, validity_f[1], validity_f[2])
        not_before = _time(times[0][0], bytes(data[times[0][1]:times[0][2]]))
        not_after = _time(times[1][0], bytes(data[times[1][1]:times[1][2]]))
        san = []
        for tag, vs, ve in fields[idx + 6:]:
            if tag != 0xA3:  # [3] extensions
                continue
            exts = _children(data, vs, ve)[0]
            for _t, es, ee in _children(data, exts[1], exts[2]):
                kids = _children(data, es, ee)
                if _oid(data[kids[0][1]:kids[0][2]]) != _OID_SAN:
                    continue
                octet = kids[-1]
                _gt, gs, ge = _read_tlv(data, octet[1])
                san = _san(data, gs, ge)
    except (IndexError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, DERError):
            raise
        raise DERError("cannot read the certificate: %s" % exc)
    return {
        "subject": subject,
        "issuer": issuer,
        "subject_cn": _first(subject_attrs, _OID_CN),
        "issuer_cn": _first(issuer_attrs, _OID_CN),
        "san": san,
        "not_before": not_before,
        "not_after": not_after,
    }


def _first(attrs, oid):
    for a_oid, value in attrs:
        if a_oid == oid:
            return value
    return None


def _match_dns(pattern, host):
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern == host:
        return True
    # Only a whole left-most label may be a wildcard, and it covers one label.
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        suffix = pattern[1:]
        head, dot, rest = host.partition(".")
        return bool(head) and bool(dot) and ("." + rest) == suffix and rest.count(".") >= 1
    return False


def hostname_matches(cert, host):
    """True when the parsed certificate is valid for host (a DNS name or an IP address)."""
    host = (host or "").strip("[]")
    ip = None
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            ip = socket.inet_ntop(family, socket.inet_pton(family, host))
            break
        except (OSError, ValueError):
            continue
    sans = cert.get("san") or []
    if ip is not None:
        return ("IP:" + ip) in sans
    dns = [s[4:] for s in sans if s.startswith("DNS:")]
    if not dns and cert.get("subject_cn"):
        dns = [cert["subject_cn"]]
    return any(_match_dns(p, host) for p in dns)
