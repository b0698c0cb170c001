# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SMTP stand-in looks like smtp.office365.com in public transcripts (docs/lab.md, fidelity):
the certificate and TLS version, the EHLO extensions and their use, reply texts, port 25, the
banner, the idle timeout and EHLO name checks."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import time

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from standins_client import connect, message, submission, tls_context

BANNER = re.compile(rb"^\S+\.outlook\.office365\.com Microsoft ESMTP MAIL Service ready at "
                    rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000 "
                    rb"\[[0-9A-F]{16}\]$")


def _starttls_socket(standins, server_hostname: str) -> ssl.SSLSocket:
    """STARTTLS by hand, checking the certificate for `server_hostname`."""
    sock = socket.create_connection(standins.smtp_addr, timeout=5)
    f = sock.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line

    reply()
    sock.sendall(b"EHLO client.lab\r\n")
    reply()
    sock.sendall(b"STARTTLS\r\n")
    assert reply().startswith(b"220 2.0.0")
    return tls_context(standins.ca).wrap_socket(sock, server_hostname=server_hostname)


def test_certificate_is_rsa_outlook_com_with_wildcards_from_an_intermediate(standins):
    # The lab CA root is the only trust anchor, so the handshake passing shows the server sends
    # the intermediate; smtp.office365.com matches through the wildcard *.office365.com.
    with _starttls_socket(standins, "smtp.office365.com") as tls:
        assert tls.version() == "TLSv1.2"  # TLS 1.3 only with the tls_max knob
        assert tls.cipher()[0].startswith("ECDHE-RSA-")
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "outlook.com"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"*.office365.com", "*.outlook.com", "outlook.com"} <= set(sans.get_values_for_type(x509.DNSName))
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert issuer == "mailops lab Cloud Services CA-1"


def test_a_name_outside_the_wildcards_fails_the_hostname_check(standins):
    try:
        _starttls_socket(standins, "smtp.example.net").close()
        raise AssertionError("smtp.example.net was accepted")
    except ssl.SSLCertVerificationError as err:
        assert "Hostname mismatch" in str(err) or "hostname" in str(err).lower()


def test_ehlo_after_tls_offers_what_exchange_online_offers(standins):
    with submission(standins) as client:
        features = client.esmtp_features
    assert features["size"] == "157286400"
    for ext in ("pipelining", "dsn", "enhancedstatuscodes", "8bitmime", "binarymime", "chunking",
                "smtputf8"):
        assert ext in features, ext
    assert sorted(features["auth"].split()) == ["LOGIN", "XOAUTH2"]


def test_smtputf8_and_dsn_parameters_are_accepted(standins):
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        assert client.mail(standins.mailbox, ["SMTPUTF8", "RET=HDRS", "ENVID=lab-42"])[0] == 250
        assert client.rcpt("jürgen@fabrikam.example",
                           ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;ops@fabrikam.example"])[0] == 250
        code, reply = client.data(message(standins.mailbox, "jürgen@fabrikam.example").as_bytes())
        assert code == 250, reply
    got = standins.control.messages()[0]
    assert got["smtputf8"] is True and got["rcpt_tos"] == ["jürgen@fabrikam.example"]
    assert got["ext_params"]["mail"] == ["SMTPUTF8", "RET=HDRS", "ENVID=lab-42"]


def test_bdat_chunks_make_the_message(standins):
    body = message(standins.mailbox, "ops@fabrikam.example").as_bytes().replace(b"\n", b"\r\n")
    first, last = body[:40], body[40:]
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        assert client.mail(standins.mailbox, ["BODY=BINARYMIME"])[0] == 250
        assert client.rcpt("ops@fabrikam.example")[0] == 250
        client.send(b"BDAT %d\r\n" % len(first) + first)
        assert client.getreply()[0] == 250
        client.send(b"BDAT %d LAST\r\n" % len(last) + last)
        code, reply = client.getreply()
        assert code == 250 and reply.startswith(b"2.0.0 OK"), reply
    got = standins.control.messages()[0]
    assert got["data"].encode() == body


def test_reply_texts_are_exchange_onlines(standins):
    with submission(standins) as client:
        client.login(standins.mailbox, standins.password)
        assert client.mail(standins.mailbox) == (250, b"2.1.0 Sender OK")
        assert client.rcpt("ops@fabrikam.example") == (250, b"2.1.5 Recipient OK")
        assert client.docmd("DATA") == (354, b"Start mail input; end with <CRLF>.<CRLF>")
        client.send(b"Subject: x\r\n\r\nhello\r\n.\r\n")
        assert client.getreply()[0] == 250
        assert client.rset() == (250, b"2.0.0 Resetting")
        assert client.docmd("QUIT") == (221, b"2.0.0 Service closing transmission channel")


def test_banner_has_the_real_shape(standins):
    client = smtplib.SMTP(timeout=5)
    try:
        code, banner = client.connect(*standins.smtp_addr)
    finally:
        client.close()
    assert code == 220 and BANNER.match(banner), banner


def test_port_25_offers_starttls_then_auth_as_587(standins):
    with connect(standins, port=25) as client:
        client.ehlo("client.lab")
        assert client.has_extn("starttls") and not client.has_extn("auth")
        client.starttls(context=tls_context(standins.ca))
        client.ehlo("client.lab")
        assert client.login(standins.mailbox, standins.password)[0] == 235


def test_an_idle_session_ends_with_421_4_4_1(standins):
    standins.control.set_idle_timeout(1)
    client = connect(standins)
    try:
        client.ehlo("client.lab")
        time.sleep(1.5)
        code, reply = client.getreply()
        assert code == 421 and reply.startswith(b"4.4.1 Connection timed out. Total session duration: 00:00:01")
    finally:
        client.close()


def test_ehlo_with_an_invalid_name_gets_501_5_5_4(standins):
    with connect(standins) as client:
        for name in ("host..example", "-bad.example", "under score.example"):
            assert client.docmd("EHLO", name) == (501, b"5.5.4 Invalid domain name"), name
        assert client.ehlo("host1.lab.test")[0] == 250
        assert client.ehlo("[198.18.0.1]")[0] == 250


def test_auth_login_prompts_are_exchanges_username_and_password(standins):
    """[MS-XLOGIN]: 334 VXNlcm5hbWU6 ("Username:"), then 334 UGFzc3dvcmQ6 ("Password:"); clients such as
    gopkg.in/mail.v2 (Grafana) refuse other prompts."""
    with submission(standins) as client:
        assert client.docmd("AUTH", "LOGIN") == (334, b"VXNlcm5hbWU6")
        assert client.docmd("bm9ib2R5QGNvbnRvc28uY29t") == (334, b"UGFzc3dvcmQ6")
        assert client.docmd("d3Jvbmc=")[0] == 535


def test_errors_end_with_host_timestamp_and_id_in_brackets(standins):
    with submission(standins) as client:
        code, reply = client.docmd("AUTH", "LOGIN " + "bm9ib2R5QGNvbnRvc28uY29t")
        code, reply = client.docmd("d3Jvbmc=")
    assert code == 535
    assert re.search(rb"^5\.7\.3 Authentication unsuccessful \[\S+\.outlook\.office365\.com "
                     rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9A-F]{16}\]$", reply), reply


def test_tls_1_3_is_a_knob(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.lab.pki import CA, exchange_online_leaf
    from tests.lab.standins.control import StandinControl

    repo = Path(__file__).resolve().parents[3]
    ca = CA(tmp_path / "pki")
    leaf = exchange_online_leaf(ca, ["127.77.0.13"])
    cfg = {"control_socket": str(tmp_path / "c.sock"), "store_dir": str(tmp_path / "store"),
           "ca": str(ca.cert_path),
           "smtp": {"address": "127.77.0.13", "ports": {"587": "starttls"}, "tls_max": "1.3",
                    "cert": str(leaf.cert), "key": str(leaf.key)}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "tests.lab.standins.server", "--config",
                             str(tmp_path / "cfg.json")], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    control = StandinControl(cfg["control_socket"])
    try:
        control.wait_ready(timeout=20)
        with smtplib.SMTP("127.77.0.13", 587, timeout=5) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(ca.cert_path)))
            assert client.sock.version() == "TLSv1.3"
        control.shutdown()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
