# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send one message with Python's smtplib from a file in one of the generic formats.

The values are read back with each format's reference parser, the ones the settings round
trips use: python-dotenv (env), configparser without interpolation (ini), json, PyYAML (yaml),
java.util.Properties through PropsReader (properties). `keys` maps logical names to the file's
keys, as the role's `keys` option does: host, port, username, password, from_address (the From;
the username when unmapped), and optionally security (tls, starttls or none), starttls, implicit_tls.

What the sender does with them is what a small application on smtplib does:
- implicit TLS when security is tls, implicit_tls is true, or the port is 465;
- STARTTLS when security is starttls or starttls is true (required), else when the server offers
  it (as Symfony Mailer, gomail and the mail gem do); never with security none;
- TLS verified against the system trust store (ssl.create_default_context());
- a login only when a username is set.

Run on a lab host with the controller's venv Python (python-dotenv and PyYAML):
    python generic_send.py FORMAT FILE TO SUBJECT --keys JSON [--section S] [--props-cp DIR]
Exit 0 when smtplib reports the message accepted for every recipient; 1 with smtplib's error;
2 when the file lacks a value the sender needs.
"""

from __future__ import annotations

import argparse
import configparser
import json
import smtplib
import ssl
import subprocess
import sys
from email.message import EmailMessage

TRUE = ("1", "true", "yes", "on")


def dotted(data, key: str):
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def read_env(path, keys, _args):
    from dotenv import dotenv_values
    values = dotenv_values(path)
    return {logical: values.get(k) for logical, k in keys.items()}


def read_ini(path, keys, args):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(path, encoding="utf-8")
    section = cp[args.section] if cp.has_section(args.section) else {}
    return {logical: section.get(k) for logical, k in keys.items()}


def read_json(path, keys, _args):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return {logical: dotted(data, k) for logical, k in keys.items()}


def read_yaml(path, keys, _args):
    import yaml
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return {logical: dotted(data, k) for logical, k in keys.items()}


def read_properties(path, keys, args):
    """java.util.Properties, through PropsReader (hex of each value, MISSING when absent)."""
    logicals = list(keys)
    out = subprocess.run(["java", "-cp", args.props_cp, "PropsReader", path] + [keys[k] for k in logicals],
                         check=True, capture_output=True, text=True, timeout=120).stdout.split()
    return {logical: (None if line == "MISSING" else bytes.fromhex(line).decode("utf-8"))
            for logical, line in zip(logicals, out)}


READERS = {"env": read_env, "ini": read_ini, "json": read_json, "yaml": read_yaml, "properties": read_properties}


def truthy(value) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE)


def tls_mode(values: dict, port: int) -> str:
    """implicit, starttls (required), opportunistic or none."""
    security = str(values.get("security") or "").lower()
    if security == "tls" or truthy(values.get("implicit_tls")):
        return "implicit"
    if security == "starttls" or truthy(values.get("starttls")):
        return "starttls"
    if security == "none":
        return "none"
    return "implicit" if port == 465 else "opportunistic"


def send(values: dict, to: str, subject: str) -> None:
    port = int(values.get("port") or 25)
    mode = tls_mode(values, port)
    ctx = ssl.create_default_context()
    msg = EmailMessage()
    msg["From"] = values.get("from_address") or values["username"]
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("sent by smtplib with the values the reference parser read\n")
    cls = smtplib.SMTP_SSL if mode == "implicit" else smtplib.SMTP
    kw = {"context": ctx} if mode == "implicit" else {}
    with cls(values["host"], port, timeout=30, **kw) as smtp:
        smtp.ehlo()
        if mode == "starttls" or (mode == "opportunistic" and smtp.has_extn("starttls")):
            smtp.starttls(context=ctx)
            smtp.ehlo()
        if values.get("username"):
            smtp.login(values["username"], values.get("password") or "")
        refused = smtp.send_message(msg)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("format", choices=sorted(READERS))
    p.add_argument("file")
    p.add_argument("to")
    p.add_argument("subject")
    p.add_argument("--keys", required=True, help="JSON map of logical names to the file's keys")
    p.add_argument("--section", default="mail")
    p.add_argument("--props-cp", default="", help="class path holding PropsReader (properties)")
    args = p.parse_args(argv)
    values = READERS[args.format](args.file, json.loads(args.keys), args)
    if not values.get("host") or not (values.get("from_address") or values.get("username")):
        print("the file has no host, or neither from_address nor username (keys %s)" % args.keys, file=sys.stderr)
        return 2
    try:
        send(values, args.to, args.subject)
    except (smtplib.SMTPException, OSError) as exc:
        print("generic %s: mail not sent: %s: %s" % (args.format, type(exc).__name__, exc), file=sys.stderr)
        return 1
    print("sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
