# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A minimal SMTP client over a socket, for the probe: every read under a deadline.

smtplib is not used because the probe must know which step failed, must bound
every read (a server that drips one byte a second defeats a per-recv timeout),
must choose its own AUTH round trips, and must match replies on their text.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import errno
import os
import re
import socket
import ssl
import threading
import time
import warnings

from ansible_collections.mailops.smtp.plugins.module_utils.x509_der import (
    DERError,
    hostname_matches,
    parse_certificate,
)

_UTC = datetime.timezone.utc
MAX_REPLY_LINES = 200
MAX_LINE = 8192
# Errors after which the next address of the name is worth a try: the address
# family or route does not exist here. Timeouts are not among them.
_NEXT_ADDRESS_ERRNOS = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)
MAX_ADDRESSES = 4
# A certificate's link in an OpenSSL hashed directory: the subject hash, a dot, a counter.
_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


class ProbeInputError(ValueError):
    """A local file or setting (ca_path, client_cert) cannot be used."""


class ServerClosed(OSError):
    """The server closed the connection."""

    def __init__(self):
        super(ServerClosed, self).__init__("the server closed the connection")


class ProtocolError(OSError):
    """The server sent something that is not SMTP."""


class Reply(object):
    """One SMTP reply: its code and its text lines joined."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return " ".join(self.lines)

    def __str__(self):
        return ("%d %s" % (self.code, self.text)).strip()


def resolve(host, port, timeout):
    """getaddrinfo under a timeout (it has none of its own).

    Returns a list of (family, sockaddr). Raises socket.gaierror, or
    socket.timeout when the resolver does not answer in time.
    """
    box = {}

    def work():
        try:
            box["result"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        except Exception as exc:  # handed to the caller's thread
            box["error"] = exc

    # A daemon thread: a resolver that hangs must not keep the module alive.
    thread = threading.Thread(target=work, name="dns-%s" % host)
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise socket.timeout("name resolution of %s timed out after %.1f s" % (host, timeout))
    if "error" in box:
        raise box["error"]
    seen = []
    for family, _type, _proto, _canon, sockaddr in box.get("result") or []:
        item = (family, sockaddr)
        if item not in seen:
            seen.append(item)
    if not seen:
        raise socket.gaierror(socket.EAI_NONAME, "no address for %s" % host)
    return seen


def local_fqdn(timeout):
    """The host's FQDN for EHLO; getfqdn may do slow reverse lookups, so it runs under a timeout."""
    box = {}

    def work():
        try:
            box["name"] = socket.getfqdn()
        except Exception:  # the fallback below is good enough for EHLO
            box["name"] = None

    thread = threading.Thread(target=work, name="fqdn")
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    name = box.get("name") or socket.gethostname() or "localhost"
    if any(c in name for c in " \r\n\x00") or not name:
        name = "localhost"
    return name


_TLS_VERSIONS = {
    "1.0": "TLSv1",
    "1.1": "TLSv1_1",
    "1.2": "TLSv1_2",
    "1.3": "TLSv1_3",
}


def system_ca_dir():
    """The system's hashed CA directory when it alone gives the system's trust, else None.

    load_default_certs() parses the whole CA bundle file, most of a probe's own CPU (some 15 ms
    for 140 certificates), while OpenSSL reads a hashed directory lazily: only the certificates a
    chain needs, by subject hash. The directory alone is used only where it holds what the bundle
    holds: the bundle is a file in that directory, as update-ca-certificates writes both (Debian,
    Ubuntu, Alpine). Elsewhere (a directory without hash links, as on RHEL; a bundle kept apart;
    SSL_CERT_FILE or SSL_CERT_DIR set), the probe loads the system store as Python does.
    """
    paths = ssl.get_default_verify_paths()
    if os.environ.get(paths.openssl_cafile_env) or os.environ.get(paths.openssl_capath_env):
        return None
    if not paths.capath:
        return None
    real_dir = os.path.realpath(paths.capath)
    if paths.cafile and os.path.dirname(os.path.realpath(paths.cafile)) != real_dir:
        return None
    try:
        names = os.listdir(real_dir)
    except OSError:
        return None
    return paths.capath if any(_HASH_LINK.match(name) for name in names) else None


def build_context(min_tls_version="1.2", validate_certs=True, ca_path=None,
                  client_cert=None, client_key=None, verify=True):
    """An SSL context for the probe.

    Verifying (system store plus ca_path as extra trust) unless validate_certs
    is false or verify is false (the second, unverified handshake that fetches
    a certificate for the report). OpenSSL's security level is lowered only when
    a version below 1.2 is asked for: OpenSSL 3 refuses TLS 1.0/1.1 otherwise.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify and validate_certs:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        system_dir = system_ca_dir()
        if system_dir:
            ctx.load_verify_locations(capath=system_dir)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if ca_path:
            try:
                if os.path.isdir(ca_path):
                    ctx.load_verify_locations(capath=ca_path)
                else:
                    ctx.load_verify_locations(cafile=ca_path)
            except (OSError, ssl.SSLError) as exc:
                raise ProbeInputError("ca_path %s cannot be loaded (%s); give a PEM file or a hashed "
                                      "certificate directory" % (ca_path, exc))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    version = _TLS_VERSIONS[min_tls_version]
    with warnings.catch_warnings():
        # Python 3.10+ warns that TLS 1.0/1.1 are deprecated: asking for them is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = getattr(ssl.TLSVersion, version)
        if min_tls_version in ("1.0", "1.1"):
            # Asking for an old version means "behave as an old client": pin it, or the
            # handshake would negotiate 1.3 and never show how the server treats 1.0/1.1.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.maximum_version = getattr(ssl.TLSVersion, version)
    if client_cert:
        try:
            ctx.load_cert_chain(client_cert, client_key or None)
        except (OSError, ssl.SSLError) as exc:
            raise ProbeInputError("client_cert %s (key %s) cannot be loaded (%s); give a PEM certificate and "
                                  "its unencrypted key" % (client_cert, client_key or "in the same file", exc))
    return ctx


def cert_info(der, host, chain_trusted, now=None):
    """The tls.cert return value from a DER certificate, or None when it cannot be read."""
    if not der:
        return None
    try:
        cert = parse_certificate(der)
    except DERError:
        return None
    now = now or datetime.datetime.now(_UTC).replace(tzinfo=None)
    delta = cert["not_after"] - now
    return {
        "subject": cert["subject"],
        "san": cert["san"],
        "issuer": cert["issuer"],
        "not_after": cert["not_after"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": int(delta.total_seconds() // 86400),
        "chain_trusted": chain_trusted,
        "hostname_match": hostname_matches(cert, host),
    }


class Connection(object):
    """One SMTP connection; every read and write is bounded by a deadline."""

    def __init__(self, sock, host, timeout):
        self.sock = sock
        self.host = host
        self.timeout = timeout
        self.tls = False
        self._buf = b""

    @classmethod
    def open(cls, addresses, port, host, connect_timeout, timeout):
        """Connect to the first usable address; returns (Connection, address)."""
        last = None
        for family, sockaddr in addresses[:MAX_ADDRESSES]:
            sockaddr = (sockaddr[0], port) + tuple(sockaddr[2:])
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(connect_timeout)
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                last = exc
                if getattr(exc, "errno", None) in _NEXT_ADDRESS_ERRNOS:
                    continue
                raise
            sock.settimeout(timeout)
            try:
                # Nagle would hold the EHLO after STARTTLS until the TLS Finished is acknowledged:
                # half a round trip to a whole one more per probe (measured in bench/probe_bench.py).
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            return cls(sock, host, timeout), sockaddr[0]
        raise last or OSError("no address to connect to")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def quit(self):
        """Say goodbye without waiting for the answer: it saves a round trip."""
        try:
            self.sock.settimeout(1)
            self.sock.sendall(b"QUIT\r\n")
        except (OSError, ValueError):
            pass
        self.close()

    def send_line(self, line):
        if any(c in line for c in "\r\n\x00"):
            # The plan rejects such input; this guards against a future caller.
            raise ValueError("refusing to send a command with CR, LF or NUL")
        self.send_raw((line + "\r\n").encode("utf-8"))

    def send_raw(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def _readline(self, deadline):
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out waiting for the server's reply")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ServerClosed()
            self._buf += chunk
            if len(self._buf) > MAX_LINE * 4 and b"\n" not in self._buf:
                raise ProtocolError("reply line longer than %d bytes" % MAX_LINE)
        line, _sep, self._buf = self._buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_reply(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        code = None
        for _line_no in range(MAX_REPLY_LINES):
            line = self._readline(deadline)
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise ProtocolError("not an SMTP reply: %r" % line[:80])
            code = int(line[:3])
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(code, lines)
        raise ProtocolError("reply longer than %d lines" % MAX_REPLY_LINES)

    def command(self, line, timeout=None):
        self.send_line(line)
        return self.read_reply(timeout)

    def start_tls(self, context, server_hostname):
        """Handshake on the current socket; on failure the connection is unusable."""
        # Anything the server sent before the handshake would be a protocol
        # violation (and an injection vector): drop it.
        self._buf = b""
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True
        return self.sock

    def tls_summary(self):
        if not self.tls:
            return None, None, None
        cipher = self.sock.cipher()
        return self.sock.version(), (cipher[0] if cipher else None), self.sock.getpeercert(binary_form=True)


def parse_ehlo(reply):
    """(extension lines, AUTH mechanisms) from an EHLO reply; the greeting line is left out."""
    extensions = []
    mechanisms = []
    for line in reply.lines[1:]:
        line = line.strip()
        if not line:
            continue
        extensions.append(line)
        # "AUTH=LOGIN" is the form of servers written for pre-RFC 4954 clients.
        if line.upper().startswith(("AUTH ", "AUTH=")):
            for mech in line[5:].split():
                mech = mech.upper()
                if mech not in mechanisms:
                    mechanisms.append(mech)
    return extensions, mechanisms


def has_extension(extensions, name):
    name = name.upper()
    return any(e.split(" ", 1)[0].upper() == name for e in extensions)


def b64(data):
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def xoauth2_blob(username, token):
    return b64("user=%s\x01auth=Bearer %s\x01\x01" % (username, token))


def plain_blob(username, password):
    return b64("\x00%s\x00%s" % (username, password))


def decode_challenge(text):
    try:
        return base64.b64decode(text.strip().split(" ")[0] or b"", validate=False).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return ""
