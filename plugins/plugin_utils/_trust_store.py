# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""CA certificates for a host's system trust store, checked on the controller (internal use only).

Grafana, Spring, Laravel, Django and Nextcloud take no extra CA: a remote relay's certificate
must chain to the system store. Debian adds a local CA as one PEM certificate per file,
`/usr/local/share/ca-certificates/<name>.crt`, then `update-ca-certificates` rebuilds
/etc/ssl/certs (docs/relay.md, "The relay's CA on the application hosts"). This module decides
which files the smtp_configure role writes or removes; the role copies them and runs the update.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime
import re

from ansible_collections.mailops.smtp.plugins.module_utils.x509_der import DERError, parse_certificate

DEFAULT_DIR = "/usr/local/share/ca-certificates"
STATES = ("present", "absent")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")
_ANY_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


class TrustStoreError(ValueError):
    """A CA item the role cannot put into the store; the message says what to change."""


def _file_name(name):
    text = str(name or "")
    stem = text[:-4] if text.endswith(".crt") else text
    if not _NAME.match(stem):
        raise TrustStoreError("smtp_configure_system_ca_certs: name %r must be letters, digits, '.', '_' or '-' "
                              "(it becomes <name>.crt in the store's directory)" % (name,))
    return stem + ".crt"


def pem_certificate(content, name, now=None):
    """(normalised PEM, parsed certificate) of content holding exactly one certificate and nothing else."""
    text = str(content or "")
    kinds = _ANY_PEM.findall(text)
    if any("PRIVATE KEY" in k for k in kinds):
        # The store's files are world-readable: a key there is a key published.
        raise TrustStoreError("smtp_configure_system_ca_certs[%s]: the content holds a private key; give only the "
                              "CA's certificate, and keep the key off the hosts" % name)
    blocks = _PEM.findall(text)
    if len(blocks) != 1 or len(kinds) != 1:
        raise TrustStoreError("smtp_configure_system_ca_certs[%s]: the content must be exactly one PEM certificate "
                              "(-----BEGIN CERTIFICATE-----), found %d certificate(s) among %d PEM block(s); give each "
                              "CA its own item" % (name, len(blocks), len(kinds)))
    b64 = re.sub(r"\s", "", blocks[0])
    try:
        der = base64.b64decode(b64, validate=True)
        cert = parse_certificate(der)
    except (binascii.Error, ValueError, DERError) as e:
        raise TrustStoreError("smtp_configure_system_ca_certs[%s]: the certificate cannot be read (%s)" % (name, e))
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if cert["not_after"] < now:
        expired = cert["not_after"].date()
        raise TrustStoreError("smtp_configure_system_ca_certs[%s]: the certificate %s expired on %s; it would verify "
                              "nothing. Give the CA's current certificate" % (name, cert["subject"], expired))
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    pem = "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(lines)
    return pem, cert


def system_ca_files(items, directory=DEFAULT_DIR, now=None):
    """[{name, path, state, content, subject}] for the role's copy (present) and file (absent) tasks."""
    directory = str(directory or DEFAULT_DIR).rstrip("/")
    if not directory.startswith("/"):
        raise TrustStoreError("smtp_configure_system_ca_dir must be an absolute path, not %r" % (directory,))
    out, seen = [], set()
    for item in items or []:
        if not isinstance(item, dict):
            raise TrustStoreError("smtp_configure_system_ca_certs: each item is {name, content, state}, not %r"
                                  % (item,))
        file_name = _file_name(item.get("name"))
        if file_name in seen:
            raise TrustStoreError("smtp_configure_system_ca_certs: the name %r is given twice" % (item.get("name"),))
        seen.add(file_name)
        state = item.get("state") or "present"
        if state not in STATES:
            raise TrustStoreError("smtp_configure_system_ca_certs[%s]: state is present or absent, not %r"
                                  % (item.get("name"), state))
        entry = {"name": file_name[:-4], "path": "%s/%s" % (directory, file_name), "state": state,
                 "content": None, "subject": None}
        if state == "present":
            entry["content"], cert = pem_certificate(item.get("content"), entry["name"], now)
            entry["subject"] = cert["subject"]
        out.append(entry)
    return out
