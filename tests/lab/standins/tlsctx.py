# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Server TLS contexts for each stand-in service, good and deliberately bad.

Bad leaves (expired / wrong name / untrusted) are issued at start-up from the lab CA into
`<store_dir>/pki-bad/`, so the fault modes need no restart.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from tests.lab import pki_bad

LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


class Contexts:
    def __init__(self, config: dict):
        self.config = config
        self._cache: dict[tuple, ssl.SSLContext] = {}
        self._bad: dict[str, dict] = {}
        ca_key = config.get("ca_key")
        if ca_key:
            ca = pki_bad.load_ca(Path(config["ca"]), Path(ca_key),
                                 Path(config["store_dir"]) / "pki-bad")
            for service in ("smtp", "connector", "entra", "graph"):
                section = config.get(service)
                if section and section.get("cert"):
                    names = [section["hostname"], section["address"]]
                    self._bad[service] = pki_bad.issue_bad(
                        ca, Path(config["store_dir"]) / "pki-bad" / service, service, names)

    def server(self, service: str, *, bad: str | None = None, legacy: bool = False) -> ssl.SSLContext:
        key = (service, bad, legacy)
        if key not in self._cache:
            self._cache[key] = self._build(service, bad, legacy)
        return self._cache[key]

    def _build(self, service: str, bad: str | None, legacy: bool) -> ssl.SSLContext:
        section = self.config[service]
        if bad:
            if service not in self._bad:
                raise ValueError("bad certificates need 'ca_key' in the standins config")
            cert, key = self._bad[service][bad].cert, self._bad[service][bad].key
        else:
            cert, key = section["cert"], section["key"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if legacy:
            # OpenSSL 3 refuses TLS 1.0/1.1 unless the security level is lowered on both ends.
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.set_ciphers(LEGACY_CIPHERS)
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if service in ("smtp", "connector") and self.config["smtp"].get("tls_max", "1.2") == "1.2":
            # Public transcripts of smtp.office365.com show TLS 1.2; tls_max "1.3" lifts the cap.
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(cert), str(key))
        if service == "connector":
            # A client certificate is optional: the connector also admits allowed source IPs.
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cafile=str(self.config["ca"]))
        return ctx

    def switching(self, service: str, choose) -> ssl.SSLContext:
        """A context whose certificate is picked per handshake by `choose() -> bad kind or None`.

        Used where the TLS layer is set up before any SMTP command (implicit TLS), so a fault
        switched at run time still takes effect on the next connection.
        """
        base = self._build(service, None, False)

        def pick(sslobj, _server_name, _ctx):
            kind = choose()
            if kind:
                sslobj.context = self.server(service, bad=kind)
            return None

        base.sni_callback = pick
        return base
