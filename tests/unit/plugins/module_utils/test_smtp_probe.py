# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe engine against a tiny scripted SMTP server on 127.0.0.1 (and stubs where loopback cannot fake it)."""

from __future__ import annotations

import base64
import datetime
import os
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.mailops.smtp.plugins.module_utils import smtp_client, smtp_probe
from ansible_collections.mailops.smtp.plugins.module_utils.endpoint import build_plan

UTC = datetime.timezone.utc
USER = "svc-mailer@contoso.com"
PASSWORD = "Corr3ct-Horse-%d" % (int(time.time()) % 100000)
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.token-%d" % (int(time.time()) % 100000)


# -- a throwaway PKI -------------------------------------------------------

def _cert(subject_cn, issuer_key, issuer_name, key, sans, days=365, ca=False, not_before=None):
    now = datetime.datetime.now(UTC)
    not_before = not_before or now - datetime.timedelta(days=1)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_before + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    import ipaddress
    base = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe test CA")])
    ca = _cert("probe test CA", ca_key, ca_name, ca_key, None, days=3650, ca=True)
    (base / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intercepting Proxy CA")])
    ip_san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    variants = {
        "good": (ca_key, ca_name, ip_san, 365, None),
        "soon": (ca_key, ca_name, ip_san, 11, None),
        "expired": (ca_key, ca_name, ip_san, 10,
                    datetime.datetime.now(UTC) - datetime.timedelta(days=40)),
        "wrongname": (ca_key, ca_name, [x509.DNSName("smtp.other.example")], 365, None),
        "untrusted": (other_key, other_name, ip_san, 365, None),
    }
    out = {"ca": str(base / "ca.pem")}
    for name, (ikey, iname, sans, days, nb) in variants.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("127.0.0.1", ikey, iname, key, sans, days=days, not_before=nb)
        (base / (name + ".pem")).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (base / (name + ".key")).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        out[name] = (str(base / (name + ".pem")), str(base / (name + ".key")))
    return out


# -- the scripted server ----------------------------------------------------

class FakeSMTP:
    """One listening socket on 127.0.0.1; each connection follows the behaviour knobs."""

    def __init__(self, cert, mode="starttls", **knobs):
        self.mode = mode
        self.knobs = knobs
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if knobs.get("legacy"):
            self.ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            self.ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.ctx.load_cert_chain(*cert)
        self.connections = 0
        self.auth_attempts = 0
        self.commands = []
        self.messages = []
        self._stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                n = self.connections
            threading.Thread(target=self._handle, args=(conn, n), daemon=True).start()

    def _handle(self, conn, n):
        conn.settimeout(5)
        try:
            self._session(conn, n)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def _session(self, conn, n):
        k = self.knobs
        if k.get("tarpit"):
            self._stop.wait(3)
            return
        tls = False
        mail_ok = False
        if self.mode == "tls":
            conn = self.ctx.wrap_socket(conn, server_side=True)
            tls = True
        rfile = conn.makefile("rb")

        def say(*lines):
            conn.sendall("".join(l + "\r\n" for l in lines).encode())

        banners = k.get("banners")
        banner = banners[min(n, len(banners)) - 1] if banners else "220 fake.example Microsoft ESMTP MAIL Service"
        say(banner)
        if not banner.startswith("220"):
            return
        for _line_no in range(50):
            raw = rfile.readline(4096)
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            self.commands.append(line)
            verb = line.split(" ", 1)[0].upper()
            if tls and k.get("legacy") and conn.version() in ("TLSv1", "TLSv1.1"):
                say("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support "
                    "TLS 1.2.")
                return
            if verb == "EHLO":
                ext = ["250-fake.example Hello [127.0.0.1]", "250-SIZE 157286400", "250-PIPELINING"]
                if not tls and self.mode == "starttls":
                    if k.get("starttls") == "masked":
                        ext.append("250-XXXXXXXA")
                    elif k.get("starttls") != "stripped":
                        ext.append("250-STARTTLS")
                if tls and k.get("auth", "LOGIN XOAUTH2"):
                    ext.append("250-AUTH " + k.get("auth", "LOGIN XOAUTH2"))
                ext.append("250 8BITMIME")
                say(*ext)
            elif verb == "STARTTLS":
                say("220 2.0.0 SMTP server ready")
                if k.get("reset_after_starttls"):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                conn = self.ctx.wrap_socket(conn, server_side=True)
                rfile = conn.makefile("rb")
                tls = True
            elif verb == "AUTH":
                self.auth_attempts += 1
                parts = line.split(" ")
                mech = parts[1].upper()
                if "auth_reply" in k:
                    if mech == "LOGIN":
                        say("334 UGFzc3dvcmQ6")
                        rfile.readline(4096)
                    say(k["auth_reply"])
                    continue
                if mech == "LOGIN":
                    user = base64.b64decode(parts[2]).decode()
                    say("334 UGFzc3dvcmQ6")
                    pw = base64.b64decode(rfile.readline(4096).strip()).decode()
                    ok = user == USER and pw == PASSWORD
                elif mech == "XOAUTH2":
                    blob = base64.b64decode(parts[2]).decode()
                    ok = blob == "user=%s\x01auth=Bearer %s\x01\x01" % (USER, TOKEN)
                    if not ok:
                        say("334 " + base64.b64encode(b'{"status":"401","schemes":"bearer"}').decode())
                        rfile.readline(4096)
                else:
                    say("504 5.7.4 Unrecognized authentication type")
                    continue
                say("235 2.7.0 Authentication successful" if ok else "535 5.7.3 Authentication unsuccessful")
            elif verb == "MAIL":
                reply = k.get("mail_reply", "250 2.1.0 Sender OK")
                mail_ok = reply.startswith("250")
                say(reply)
            elif verb == "RCPT":
                say("250 2.1.5 Recipient OK" if mail_ok else "503 5.5.1 Bad sequence of commands")
            elif verb == "DATA":
                if not mail_ok:
                    say("503 5.5.1 Bad sequence of commands")
                    continue
                say("354 Start mail input; end with <CRLF>.<CRLF>")
                data = []
                for _line_no in range(10000):
                    chunk = rfile.readline(65536)
                    if chunk in (b".\r\n", b""):
                        break
                    data.append(chunk)
                if chunk != b".\r\n":
                    return  # no terminator: the client aborted, nothing is delivered
                self.messages.append(b"".join(data))
                say("250 2.0.0 OK <queued@fake.example>")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                return
            else:
                say("500 5.3.3 Unrecognized command")


@pytest.fixture
def servers(pki):
    made = []

    def make(cert="good", mode="starttls", **knobs):
        srv = FakeSMTP(pki[cert], mode=mode, **knobs)
        made.append(srv)
        return srv
    yield make
    for srv in made:
        srv.close()


def probe(pki, ports, check_mode=False, **params):
    base = {"profile": "custom", "host": "127.0.0.1", "ports": ports, "ca_path": pki["ca"], "helo": "probe.test",
            "timeout": 2, "connect_timeout": 2, "retries": 0}
    base.update(params)
    return smtp_probe.run_probe(build_plan(base), check_mode=check_mode, sleep=lambda s: None, backoff_base=0.01)


def stage_names(port_result):
    return [s["name"] for s in port_result["stages"]]


def code_of(port_result):
    return (port_result["diagnosis"] or {}).get("code")


# -- the paths ---------------------------------------------------------------

def test_ok_starttls_with_auth_login_uses_the_initial_response(pki, servers):
    srv = servers()
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    port = res["ports"][str(srv.port)]
    assert res["ok"] is True and port["ok"] is True, res["summary"]
    assert stage_names(port) == ["dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth"]
    assert all(s["ok"] for s in port["stages"])
    assert port["diagnosis"] is None
    assert port["auth"] == {"mechanism": "LOGIN", "ok": True, "reply": "235 2.7.0 Authentication successful"}
    assert port["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    cert = port["tls"]["cert"]
    assert cert["subject"] == "CN=127.0.0.1" and cert["issuer"] == "CN=probe test CA"
    assert cert["chain_trusted"] is True and cert["hostname_match"] is True and cert["days_left"] >= 360
    assert port["auth_mechanisms"] == ["LOGIN", "XOAUTH2"]
    assert "STARTTLS" not in port["extensions"] and "AUTH LOGIN XOAUTH2" in port["extensions"]
    # One round trip saved: the username rides on the AUTH command itself.
    auth_cmds = [c for c in srv.commands if c.startswith("AUTH")]
    assert auth_cmds == ["AUTH LOGIN " + base64.b64encode(USER.encode()).decode()]
    assert "%d ok (STARTTLS TLSv1." % srv.port in res["summary"] and "AUTH LOGIN 235 2.7.0" in res["summary"]
    assert PASSWORD not in repr(res)


def test_credentials_are_never_sent_before_tls(pki, servers):
    srv = servers()
    probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    starttls_at = srv.commands.index("STARTTLS")
    assert not any(c.startswith("AUTH") for c in srv.commands[:starttls_at])


def test_xoauth2_with_initial_response_and_its_failure(pki, servers):
    srv = servers()
    ok = probe(pki, [srv.port], auth={"username": USER, "access_token": TOKEN})
    assert ok["ports"][str(srv.port)]["auth"]["mechanism"] == "XOAUTH2" and ok["ok"]
    bad = probe(pki, [srv.port], auth={"username": USER, "access_token": "wrong-token-value"})
    port = bad["ports"][str(srv.port)]
    assert bad["ok"] is False and code_of(port) == "auth_failed"
    assert port["auth"]["reply"].startswith("535 5.7.3") and '"status":"401"' in port["auth"]["reply"]
    assert "wrong-token-value" not in repr(bad)


def test_tarpit_is_banner_timeout_and_not_retried(pki, servers):
    srv = servers(tarpit=True)
    res = probe(pki, [srv.port], timeout=0.5, retries=2)
    port = res["ports"][str(srv.port)]
    assert code_of(port) == "banner_timeout"
    assert stage_names(port)[-1] == "banner" and port["stages"][-1]["ok"] is False
    assert srv.connections == 1


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port_no = sock.getsockname()[1]
    sock.close()
    return port_no


def test_refused_is_tcp_refused():
    port_no = closed_port()
    res = smtp_probe.run_probe(build_plan({"profile": "custom", "host": "127.0.0.1", "ports": [port_no],
                                           "retries": 2, "helo": "probe.test"}), sleep=lambda s: None)
    port = res["ports"][str(port_no)]
    assert res["ok"] is False and code_of(port) == "tcp_refused"
    assert "refused" in port["stages"][-1]["detail"].lower()


@pytest.mark.parametrize("knob,needle", [("stripped", "offers no STARTTLS"), ("masked", "XXXXXXXA")])
def test_starttls_missing_or_masked(pki, servers, knob, needle):
    srv = servers(starttls=knob)
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    port = res["ports"][str(srv.port)]
    assert code_of(port) == "starttls_missing"
    assert needle in port["stages"][-1]["detail"]
    assert srv.auth_attempts == 0 and not any(c.startswith("AUTH") for c in srv.commands)


def test_535_5_7_3_is_auth_failed_and_not_retried(pki, servers):
    srv = servers(auth_reply="535 5.7.3 Authentication unsuccessful")
    res = probe(pki, [srv.port], retries=2, auth={"username": USER, "password": PASSWORD})
    port = res["ports"][str(srv.port)]
    assert res["ok"] is False and code_of(port) == "auth_failed"
    assert port["auth"]["ok"] is False and srv.connections == 1


@pytest.mark.parametrize("reply,code", [
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
     "auth_disabled"),
    ("550 5.7.30 Basic authentication is not supported for Client Submission.", "basic_auth_retired"),
])
def test_microsoft_auth_replies(pki, servers, reply, code):
    srv = servers(auth_reply=reply)
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    assert code_of(res["ports"][str(srv.port)]) == code


def test_secrets_are_scrubbed_even_when_the_server_echoes_them(pki, servers):
    echoed = base64.b64encode(PASSWORD.encode()).decode()
    srv = servers(auth_reply="535 5.7.3 Authentication unsuccessful for %s (%s)" % (echoed, PASSWORD))
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    text = repr(res)
    assert PASSWORD not in text and echoed not in text
    assert smtp_probe.MASK in res["ports"][str(srv.port)]["auth"]["reply"]


def test_421_at_banner_is_retried_then_temporary_failure(pki, servers):
    srv = servers(banners=["421 4.3.2 Service not available"])
    res = probe(pki, [srv.port], retries=2)
    port = res["ports"][str(srv.port)]
    assert code_of(port) == "temporary_failure" and srv.connections == 3
    assert "after 2 retries" in port["stages"][1]["detail"]


def test_transient_then_ok(pki, servers):
    srv = servers(banners=["451 4.7.500 Server busy. Please try again later", "220 fake.example ready"])
    res = probe(pki, [srv.port], retries=2)
    assert res["ok"] is True and srv.connections == 2


def test_432_concurrency_at_auth(pki, servers):
    srv = servers(auth_reply="432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded")
    res = probe(pki, [srv.port], retries=1, auth={"username": USER, "password": PASSWORD})
    assert code_of(res["ports"][str(srv.port)]) == "concurrency_limit" and srv.auth_attempts == 2


def test_tls_version_rejected_reply(pki, servers):
    srv = servers(banners=["421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade your client."])
    res = probe(pki, [srv.port], retries=2)
    assert code_of(res["ports"][str(srv.port)]) == "tls_version_rejected" and srv.connections == 1


def test_old_client_against_legacy_mode_is_tls_version_rejected(pki, servers):
    srv = servers(legacy=True)
    modern = probe(pki, [srv.port])
    assert modern["ok"] is True and modern["ports"][str(srv.port)]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    res = probe(pki, [srv.port], min_tls_version="1.0", retries=2)
    port = res["ports"][str(srv.port)]
    assert port["tls"]["version"] == "TLSv1" and stage_names(port)[-1] == "ehlo_tls"
    assert code_of(port) == "tls_version_rejected" and srv.connections == 2  # never retried


def test_reset_after_starttls_is_tls_failed(pki, servers):
    srv = servers(reset_after_starttls=True)
    res = probe(pki, [srv.port], retries=1)
    port = res["ports"][str(srv.port)]
    assert code_of(port) == "tls_failed" and stage_names(port)[-1] == "tls"
    assert srv.connections == 2  # a reset is transient: retried once


@pytest.mark.parametrize("cert,code,trusted,match", [
    ("untrusted", "cert_untrusted", False, True),
    ("wrongname", "cert_hostname_mismatch", True, False),
    ("expired", "cert_expired", None, True),
])
def test_certificate_faults_report_the_certificate(pki, servers, cert, code, trusted, match):
    srv = servers(cert=cert)
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    port = res["ports"][str(srv.port)]
    assert code_of(port) == code and srv.auth_attempts == 0
    got = port["tls"]["cert"]
    assert got["chain_trusted"] is trusted and got["hostname_match"] is match
    if cert == "untrusted":
        assert got["issuer"] == "CN=Intercepting Proxy CA"
    if cert == "expired":
        assert got["days_left"] < 0


def test_expiring_certificate_is_a_warning_on_an_ok_port(pki, servers):
    srv = servers(cert="soon")
    res = probe(pki, [srv.port])
    port = res["ports"][str(srv.port)]
    assert res["ok"] is True and port["ok"] is True and code_of(port) == "cert_expiring"


def test_validate_certs_false_accepts_an_untrusted_certificate(pki, servers):
    srv = servers(cert="untrusted")
    res = probe(pki, [srv.port], validate_certs=False)
    assert res["ok"] is True and res["ports"][str(srv.port)]["tls"]["cert"]["chain_trusted"] is None


def test_implicit_tls_port(pki, servers):
    srv = servers(mode="tls")
    res = probe(pki, [{"port": srv.port, "security": "tls"}], auth={"username": USER, "password": PASSWORD})
    port = res["ports"][str(srv.port)]
    assert res["ok"] and stage_names(port) == ["dns", "connect", "tls", "banner", "ehlo_tls", "auth"]


def test_plain_client_against_microsoft_style_server(pki, servers):
    srv = servers()
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD, "mechanism": "plain"})
    port = res["ports"][str(srv.port)]
    assert code_of(port) == "auth_mechanism_unsupported" and srv.auth_attempts == 0


def test_no_auth_offered(pki, servers):
    srv = servers(auth="")
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD})
    assert code_of(res["ports"][str(srv.port)]) == "auth_not_offered"


def test_authenticates_on_one_port_only_by_default(pki, servers):
    a, b = servers(), servers()
    res = probe(pki, [a.port, b.port], auth={"username": USER, "password": PASSWORD}, require="all")
    assert res["ok"] is True
    # On the first port, the applications' port (issue 17): not on whichever finishes first.
    assert (a.auth_attempts, b.auth_attempts) == (1, 0)
    delegated = res["ports"][str(b.port)]
    # No login was tried there, so no login stage: no tick where nothing was tried (issue 17).
    assert delegated["auth"] is None and "auth" not in stage_names(delegated)
    assert "AUTH on %d" % a.port in res["summary"]
    res = probe(pki, [a.port, b.port], auth={"username": USER, "password": PASSWORD}, auth_all_ports=True)
    assert a.auth_attempts + b.auth_attempts == 3


def test_failed_auth_fails_the_host_not_the_port_that_never_tried(pki, servers):
    # Until issue 17 the port that waited was marked auth_failed too, though it never tried a login.
    a = servers(auth_reply="535 5.7.3 Authentication unsuccessful")
    b = servers(auth_reply="535 5.7.3 Authentication unsuccessful")
    for require in ("any", "all"):
        res = probe(pki, [a.port, b.port], auth={"username": USER, "password": PASSWORD}, require=require)
        assert res["ok"] is False, require
        assert [code_of(p) for p in res["ports"].values()] == ["auth_failed", None]
        assert res["ports"][str(b.port)]["auth"] is None
    assert (a.auth_attempts, b.auth_attempts) == (2, 0)


def test_the_login_moves_to_the_next_port_when_the_first_fails_before_it(pki, servers):
    b = servers()
    dead = closed_port()
    res = probe(pki, [dead, b.port], auth={"username": USER, "password": PASSWORD})
    assert res["ok"] is True and b.auth_attempts == 1
    assert res["ports"][str(b.port)]["auth"]["ok"] is True
    res = probe(pki, [dead, b.port], auth={"username": USER, "password": PASSWORD}, require="apps_port")
    assert res["ok"] is False and code_of(res["ports"][str(dead)]) == "tcp_refused"


def test_send_and_check_mode(pki, servers):
    srv = servers()
    send = {"from": USER, "to": ["ops@contoso.com", "oncall@contoso.com"], "subject": "SMTP check"}
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD}, send=send)
    port = res["ports"][str(srv.port)]
    assert res["ok"] and stage_names(port)[-1] == "send" and len(srv.messages) == 1
    assert b"Subject: SMTP check" in srv.messages[0] and "sent 250 2.0.0" in res["summary"]
    assert [c for c in srv.commands if c.startswith("RCPT")] == ["RCPT TO:<ops@contoso.com>",
                                                                 "RCPT TO:<oncall@contoso.com>"]
    res = probe(pki, [srv.port], check_mode=True, auth={"username": USER, "password": PASSWORD}, send=send)
    assert res["ok"] and len(srv.messages) == 1
    assert res["ports"][str(srv.port)]["stages"][-1]["detail"] == "skipped: check mode"


def test_send_as_denied(pki, servers):
    srv = servers(mail_reply="554 5.2.252 SendAsDenied; svc-mailer@contoso.com not allowed to send as x@y.z")
    res = probe(pki, [srv.port], auth={"username": USER, "password": PASSWORD},
                send={"from": "x@y.z", "to": ["ops@contoso.com"]})
    assert code_of(res["ports"][str(srv.port)]) == "send_as_denied" and not srv.messages


def _silence(monkeypatch, silent_port):
    """Loopback cannot drop a SYN: make one port behave like a firewalled one."""
    real_open = smtp_client.Connection.open.__func__

    def fake_open(cls, addresses, port, host, connect_timeout, timeout):
        if port == silent_port:
            raise socket.timeout("timed out")
        return real_open(cls, addresses, port, host, connect_timeout, timeout)
    monkeypatch.setattr(smtp_client.Connection, "open", classmethod(fake_open))


def test_m365_shape_465_not_offered_is_informational(pki, servers, monkeypatch):
    srv = servers()
    _silence(monkeypatch, 465)
    res = probe(pki, [srv.port, {"port": 465, "security": "tls", "expect": "not_offered"}], require="all",
                retries=2)
    assert res["ok"] is True
    assert code_of(res["ports"]["465"]) == "port_not_offered" and res["ports"]["465"]["ok"] is False
    assert "465 not offered by this endpoint (expected)" in res["summary"]


def test_timeout_while_another_port_works_is_not_offered(pki, servers, monkeypatch):
    srv = servers()
    _silence(monkeypatch, 2465)
    res = probe(pki, [srv.port, 2465], require="any")
    assert res["ok"] and code_of(res["ports"]["2465"]) == "port_not_offered"
    # An explicit requirement on the silent port is not waived.
    res = probe(pki, [srv.port, 2465], require=[2465])
    assert res["ok"] is False


def test_lone_timeout_is_tcp_timeout(pki, monkeypatch):
    _silence(monkeypatch, 2587)
    res = probe(pki, [2587], retries=2)
    assert code_of(res["ports"]["2587"]) == "tcp_timeout" and res["ok"] is False


def test_dns_runs_under_a_timeout(monkeypatch):
    release = threading.Event()

    def slow_getaddrinfo(*args, **kwargs):
        release.wait(5)
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    try:
        res = smtp_probe.run_probe(build_plan({"profile": "m365", "timeout": 0.3, "helo": "probe.test"}))
    finally:
        release.set()
    assert res["ok"] is False
    assert {code_of(p) for p in res["ports"].values()} == {"dns_failure"}
    assert "timed out" in res["ports"]["587"]["stages"][0]["detail"]


def test_stop_after_connect(pki, servers):
    srv = servers(tarpit=True)
    res = probe(pki, [srv.port], stop_after="connect")
    assert res["ok"] and stage_names(res["ports"][str(srv.port)]) == ["dns", "connect"]


def test_context_verifies_and_lowers_security_level_only_below_1_2(pki):
    ctx = smtp_client.build_context("1.2", True, pki["ca"])
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.get_ca_certs() and any(c["subject"] == ((("commonName", "probe test CA"),),)
                                      for c in ctx.get_ca_certs())
    old = smtp_client.build_context("1.0", True, None)
    assert old.minimum_version == ssl.TLSVersion.TLSv1 == old.maximum_version
    assert ctx.maximum_version == ssl.TLSVersion.MAXIMUM_SUPPORTED
    assert smtp_client.build_context("1.3").minimum_version == ssl.TLSVersion.TLSv1_3
    with pytest.raises(smtp_client.ProbeInputError) as err:
        smtp_client.build_context("1.2", True, "/nonexistent/ca.pem")
    assert "ca_path /nonexistent/ca.pem" in str(err.value)


def test_connector_path_is_checked_alongside_and_does_not_change_ok(pki, servers):
    main, relay = servers(), servers()
    plan = build_plan({"profile": "custom", "host": "127.0.0.1", "ports": [main.port], "ca_path": pki["ca"],
                       "helo": "probe.test", "timeout": 2, "connect_timeout": 2, "retries": 0,
                       "connector_host": "127.0.0.1"})
    plan["connector"]["ports"][0]["port"] = relay.port  # the lab's port 25 is a loopback port here
    res = smtp_probe.run_probe(plan, sleep=lambda s: None, backoff_base=0.01)
    assert res["ok"] is True and res["connector"]["ok"] is True
    assert list(res["connector"]["ports"]) == [str(relay.port)] and relay.auth_attempts == 0
    assert res["connector"]["summary"].startswith("%d ok (STARTTLS" % relay.port)

    plan["connector"]["ports"][0]["port"] = closed = relay.port
    relay.close()
    res = smtp_probe.run_probe(plan, sleep=lambda s: None, backoff_base=0.01)
    assert res["ok"] is True, "a closed connector path is reported, not a failure of the endpoint"
    assert res["connector"]["ok"] is False
    assert code_of(res["connector"]["ports"][str(closed)]) == "tcp_refused"


def test_connector_path_shares_the_tls_contexts_and_the_host_name(pki, servers, monkeypatch):
    calls = {"context": 0, "fqdn": 0}
    real_context = smtp_probe.build_context

    def counted_context(*args, **kwargs):
        calls["context"] += 1
        return real_context(*args, **kwargs)

    def counted_fqdn(timeout):
        calls["fqdn"] += 1
        return "probe.test"
    monkeypatch.setattr(smtp_probe, "build_context", counted_context)
    monkeypatch.setattr(smtp_probe, "local_fqdn", counted_fqdn)
    main, relay = servers(), servers()
    plan = build_plan({"profile": "custom", "host": "127.0.0.1", "ports": [main.port], "ca_path": pki["ca"],
                       "timeout": 2, "connect_timeout": 2, "retries": 0, "connector_host": "127.0.0.1"})
    plan["connector"]["ports"][0]["port"] = relay.port
    res = smtp_probe.run_probe(plan, sleep=lambda s: None, backoff_base=0.01)
    assert res["ok"] is True and res["connector"]["ok"] is True
    assert calls == {"context": 2, "fqdn": 1}


# -- the system trust store ------------------------------------------------------

def _system_paths(monkeypatch, capath, cafile):
    """Make the probe see capath and cafile as OpenSSL's defaults, with SSL_CERT_* unset."""
    paths = ssl.DefaultVerifyPaths(cafile, capath, "SSL_CERT_FILE", cafile, "SSL_CERT_DIR", capath)
    monkeypatch.setattr(smtp_client.ssl, "get_default_verify_paths", lambda: paths)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def _hashed_dir(tmp_path, ca_pem, bundle_inside=True):
    """A directory laid out as update-ca-certificates leaves /etc/ssl/certs: hash links and the bundle."""
    import shutil
    import subprocess
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(ca_pem, certs / "lab-ca.pem")
    subject_hash = subprocess.run(["openssl", "x509", "-noout", "-subject_hash", "-in", ca_pem],
                                  capture_output=True, text=True, check=True).stdout.strip()
    (certs / (subject_hash + ".0")).symlink_to("lab-ca.pem")
    bundle = (certs if bundle_inside else tmp_path) / "ca-certificates.crt"
    bundle.write_bytes(open(ca_pem, "rb").read())
    return str(certs), str(bundle)


def test_system_trust_is_read_lazily_from_a_hashed_directory(pki, servers, monkeypatch, tmp_path):
    capath, cafile = _hashed_dir(tmp_path, pki["ca"])
    _system_paths(monkeypatch, capath, cafile)
    assert smtp_client.system_ca_dir() == capath
    eager = []
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", lambda self, purpose=None: eager.append(purpose))
    # No ca_path: the test CA is trusted only as a system CA, found by its hash link.
    ok = probe(pki, [servers(cert="good").port], ca_path=None)
    assert ok["ok"] is True and eager == []
    port = next(iter(ok["ports"].values()))
    assert port["tls"]["cert"]["chain_trusted"] is True
    bad = probe(pki, [servers(cert="untrusted").port], ca_path=None)
    assert code_of(next(iter(bad["ports"].values()))) == "cert_untrusted"


@pytest.mark.parametrize("case", ["bundle_elsewhere", "no_hash_links", "env_file", "env_dir", "no_dir"])
def test_system_trust_falls_back_to_the_bundle(pki, servers, monkeypatch, tmp_path, case):
    capath, cafile = _hashed_dir(tmp_path, pki["ca"], bundle_inside=case != "bundle_elsewhere")
    if case == "no_hash_links":
        for link in os.listdir(capath):
            if link.endswith(".0"):
                os.unlink(os.path.join(capath, link))
    _system_paths(monkeypatch, None if case == "no_dir" else capath, cafile)
    if case == "env_file":
        monkeypatch.setenv("SSL_CERT_FILE", cafile)
    if case == "env_dir":
        monkeypatch.setenv("SSL_CERT_DIR", capath)
    assert smtp_client.system_ca_dir() is None
    eager = []
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", lambda self, purpose=None: eager.append(purpose))
    smtp_client.build_context("1.2", True, pki["ca"])
    assert eager == [ssl.Purpose.SERVER_AUTH]


def test_oauth_endpoint_check_reports_refused(monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port_no = sock.getsockname()[1]
    sock.close()
    plan = build_plan({"profile": "custom", "host": "127.0.0.1", "ports": [port_no], "helo": "probe.test"})
    out = smtp_probe._check_oauth("https://127.0.0.1:%d" % port_no, plan, 1, 1)
    assert out["ok"] is False and out["diagnosis"]["code"] == "tcp_refused"


# -- the oldest target Python -------------------------------------------------

PY38 = "/root/.pyenv/versions/3.8.18/bin/python3.8"

PY38_SCRIPT = r"""
import json, sys
from ansible_collections.mailops.smtp.plugins.module_utils.endpoint import build_plan
from ansible_collections.mailops.smtp.plugins.module_utils.smtp_probe import run_probe
from ansible_collections.mailops.smtp.plugins.module_utils.x509_der import parse_certificate
from ansible_collections.mailops.smtp.plugins.module_utils.diagnosis import match_reply
args = json.loads(sys.argv[1])
res = run_probe(build_plan(args["plan"]))
with open(args["der"], "rb") as f:
    cert = parse_certificate(f.read())
print(json.dumps({"ok": res["ok"], "port": res["ports"][str(args["port"])], "subject": cert["subject"],
                  "match": match_reply(535, "5.7.3 Authentication unsuccessful"), "version": sys.version_info[:2]}))
"""


@pytest.mark.skipif(not __import__("os").path.exists(PY38), reason="python3.8 not installed here")
def test_engine_runs_on_python_3_8(pki, servers, tmp_path):
    import json
    import os
    import subprocess
    import sys
    root = next(p for p in sys.path
                if os.path.isdir(os.path.join(p, "ansible_collections", "mailops", "smtp", "plugins")))
    srv = servers()
    der = tmp_path / "good.der"
    cert = x509.load_pem_x509_certificate(open(pki["good"][0], "rb").read())
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    args = {"port": srv.port, "der": str(der), "plan": {
        "profile": "custom", "host": "127.0.0.1", "ports": [srv.port], "ca_path": pki["ca"], "helo": "probe.test",
        "timeout": 5, "retries": 0, "auth": {"username": USER, "password": PASSWORD}}}
    proc = subprocess.run([PY38, "-c", PY38_SCRIPT, json.dumps(args)], capture_output=True, text=True, timeout=60,
                          check=False, env={"PYTHONPATH": root, "PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["version"] == [3, 8]
    assert out["ok"] is True and out["port"]["auth"]["reply"].startswith("235")
    assert out["subject"] == "CN=127.0.0.1" and out["match"] == "auth_failed"
