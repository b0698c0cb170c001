# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""`options.mode: via_relay`: an application sends through a relay of our own, with no login.

Internal use only. The relay (the smtp_relay role: Postfix on the host, or on designated relay
hosts) logs in to Microsoft 365 itself, so the application's settings name only the relay: its
host and port, no user and no password. On loopback the connection stays plain, and the settings
say so wherever the application has such a setting, so that no mail library tries STARTTLS; a
remote relay is reached with STARTTLS. The user and password keys the preset writes in its other
modes are deleted, so no secret of the old way stays in the file.

The relay is given as options.relay_host (default 127.0.0.1) and options.relay_port (default 25);
the `smtp` option's host and port describe Microsoft 365 and are not used in this mode, nor is the
credential.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_code import (
    PhpArrayFormat, PythonFormat, RubyFormat)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import DELETE, NULL, FormatError
from ansible_collections.mailops.smtp.plugins.module_utils._formats_env import LaravelEnvFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_ini import GoIniFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_msmtp import MsmtpFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_postfix import MainCfFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_properties import SpringPropertiesFormat
from ansible_collections.mailops.smtp.plugins.module_utils._presets import (
    FORMATS, LOGICAL, PRESETS, SECRET_LOGICAL, SYSTEM_CA_DIR, SYSTEM_CA_FILE, a, bundle_spec, need, spec)

MODE = "via_relay"
DEFAULT_RELAY_HOST = "127.0.0.1"
DEFAULT_RELAY_PORT = 25
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
# A host name or an IP address (IPv6 without brackets): nothing that could end a line or a value.
_HOST = re.compile(r"^[A-Za-z0-9._:\-]+\Z")
# Logical names (generic formats) that hold or name a login: never written in this mode.
LOGIN_LOGICAL = ("username", "password", "tenant_id", "client_id", "client_secret", "mechanism")


def is_via_relay(opts):
    return (opts or {}).get("mode") == MODE


def is_loopback(host):
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def relay_of(opts):
    """{host, port, tls}: where the application sends, and whether it uses STARTTLS (not on loopback)."""
    host = opts.get("relay_host") or DEFAULT_RELAY_HOST
    if not isinstance(host, str) or not _HOST.match(host):
        raise FormatError("options.relay_host must be a host name or an IP address (letters, digits, '.', "
                          "'-', ':'), not %r" % (host,))
    port = opts.get("relay_port")
    port = DEFAULT_RELAY_PORT if port in (None, "") else port
    text = str(port)
    if isinstance(port, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise FormatError("options.relay_port must be a port number from 1 to 65535, got %r" % (port,))
    return {"host": host, "port": int(text), "tls": not is_loopback(host)}


def _trust(preset, ctx, relay):
    """Extra CA trust for a remote relay: kept where the application takes a CA, refused where it reads only
    the system store; on loopback there is no TLS, so smtp.ca_path means nothing and is ignored."""
    if not relay["tls"] or not ctx.get("ca_path"):
        return None
    if preset and not PRESETS[preset]["ca"]:
        raise FormatError(
            "preset %s has no setting for an extra CA: the application reads only the system trust store, "
            "so the certificate of the relay %s must chain to it. Add %s to the system store "
            "(update-ca-certificates) and leave smtp.ca_path unset." % (preset, relay["host"], ctx["ca_path"]))
    return ctx["ca_path"]


def _from(ctx):
    return ctx.get("from_address")


def postfix(path, ctx, opts, relay):
    if not relay["tls"] and relay["port"] == 25:
        raise FormatError(
            "postfix in via_relay mode cannot relay to %s:25: that is this Postfix itself, and mail would loop. "
            "On a host whose Postfix is the relay, configure it with the smtp_relay role instead; otherwise "
            "give options.relay_host a designated relay host." % relay["host"])
    host = relay["host"]
    nexthop = "[%s]:%d" % ("ipv6:" + host if ":" in host else host, relay["port"])
    keys = [
        a("relayhost", nexthop),
        a("smtp_sasl_auth_enable", False),
        a("smtp_sasl_password_maps", DELETE),
        a("smtp_sasl_security_options", DELETE),
        a("smtp_sasl_mechanism_filter", DELETE),
        a("smtp_tls_wrappermode", False),
        a("smtp_tls_security_level", opts.get("tls_security_level", "secure") if relay["tls"] else "none"),
        a("smtp_tls_CAfile", ctx.get("ca_path") or SYSTEM_CA_FILE),
        a("smtp_tls_CApath", SYSTEM_CA_DIR),
        a("smtp_tls_mandatory_protocols", ">=TLSv1.2"),
        a("default_transport", "smtp"),
        a("relay_transport", "smtp"),
    ]
    sender = _from(ctx)
    if opts.get("rewrite_sender", True) and sender:
        if re.search(r"[\s{}$,]", sender):
            raise FormatError("from_address cannot be used in a static: map (whitespace, braces, '$' or ',')")
        keys.append(a("sender_canonical_maps", "static:%s" % sender))
    return [spec(os.path.join(path, "main.cf"), MainCfFormat(), keys, 0o644, config_dir=path)]


def msmtp(path, ctx, opts, relay):
    specs = []
    keys = [a("host", relay["host"]), a("port", relay["port"]), a("tls", relay["tls"])]
    if relay["tls"]:
        trust = "system"
        if _trust("msmtp", ctx, relay):
            b = bundle_spec(path, ctx)
            specs.append(b)
            trust = b["path"]
        keys += [a("tls_starttls", True), a("tls_trust_file", trust)]
    else:
        keys += [a("tls_starttls", DELETE), a("tls_trust_file", DELETE)]
    keys += [a("auth", False), a("user", DELETE), a("password", DELETE, True), a("passwordeval", DELETE),
             a("from", need(ctx, "from_address", "msmtp in via_relay mode"))]
    if ctx.get("timeout"):
        keys.append(a("timeout", int(ctx["timeout"])))
    specs.append(spec(path, MsmtpFormat(), keys, 0o600, block=opts.get("account", "mailops"),
                      msmtp_default=opts.get("account", "mailops") if opts.get("default_account") else None))
    return specs


def grafana(path, ctx, opts, relay):
    _trust("grafana", ctx, relay)
    keys = [
        a("enabled", True),
        a("host", "%s:%d" % (relay["host"], relay["port"])),
        a("user", DELETE),
        a("password", DELETE, True),
        a("startTLS_policy", "MandatoryStartTLS" if relay["tls"] else "NoStartTLS"),
        a("skip_verify", False),
    ]
    if _from(ctx):
        keys.append(a("from_address", _from(ctx)))
    if ctx.get("from_name"):
        keys.append(a("from_name", ctx["from_name"]))
    return [spec(path, GoIniFormat(), keys, 0o600, block="smtp")]


def gitlab(path, ctx, opts, relay):
    def g(k, v, secret=False):
        return a("gitlab_rails['%s']" % k, v, secret)
    specs = []
    keys = [
        g("microsoft_graph_mailer_enabled", False),
        g("microsoft_graph_mailer_client_secret", DELETE, True),
        g("smtp_enable", True),
        g("smtp_address", relay["host"]),
        g("smtp_port", relay["port"]),
        g("smtp_user_name", DELETE),
        g("smtp_password", DELETE, True),
        g("smtp_authentication", DELETE),
        g("smtp_enable_starttls_auto", relay["tls"]),
        g("smtp_tls", False),
        g("smtp_openssl_verify_mode", "peer" if relay["tls"] else "none"),
    ]
    if _trust("gitlab", ctx, relay):
        b = bundle_spec(path, ctx)
        specs.append(b)
        keys.append(g("smtp_ca_file", b["path"]))
    if _from(ctx):
        keys.append(g("gitlab_email_from", _from(ctx)))
    if ctx.get("from_name"):
        keys.append(g("gitlab_email_display_name", ctx["from_name"]))
    specs.append(spec(path, RubyFormat(), keys, 0o600))
    return specs


def spring(path, ctx, opts, relay):
    _trust("spring", ctx, relay)
    p = "spring.mail."
    keys = [
        a(p + "host", relay["host"]),
        a(p + "port", relay["port"]),
        a(p + "username", DELETE),
        a(p + "password", DELETE, True),
        a(p + "protocol", "smtp"),
        a(p + "properties.mail.smtp.auth", False),
        a(p + "properties.mail.smtp.starttls.enable", relay["tls"]),
        a(p + "properties.mail.smtp.starttls.required", relay["tls"]),
    ]
    if _from(ctx):
        keys.append(a(p + "properties.mail.smtp.from", _from(ctx)))
    if ctx.get("timeout"):
        ms = int(ctx["timeout"]) * 1000
        keys += [a(p + "properties.mail.smtp.connectiontimeout", ms),
                 a(p + "properties.mail.smtp.timeout", ms),
                 a(p + "properties.mail.smtp.writetimeout", ms)]
    return [spec(path, SpringPropertiesFormat(), keys, 0o600)]


def laravel(path, ctx, opts, relay):
    _trust("laravel", ctx, relay)
    keys = [
        a("MAIL_MAILER", "smtp"),
        # Laravel 11+: the transport's scheme; smtp is plain SMTP, upgraded only where the relay offers STARTTLS.
        a("MAIL_SCHEME", "smtp"),
        a("MAIL_HOST", relay["host"]),
        a("MAIL_PORT", relay["port"]),
        a("MAIL_USERNAME", DELETE),
        a("MAIL_PASSWORD", DELETE, True),
        # Laravel 10 and older: tls asks for STARTTLS; env() reads the bare word null as PHP null (no TLS).
        a("MAIL_ENCRYPTION", "tls" if relay["tls"] else NULL),
    ]
    if _from(ctx):
        keys.append(a("MAIL_FROM_ADDRESS", _from(ctx)))
    if ctx.get("from_name"):
        keys.append(a("MAIL_FROM_NAME", ctx["from_name"]))
    return [spec(path, LaravelEnvFormat(), keys, 0o600)]


def django(path, ctx, opts, relay):
    _trust("django", ctx, relay)
    keys = [
        a("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
        a("EMAIL_HOST", relay["host"]),
        a("EMAIL_PORT", relay["port"]),
        a("EMAIL_HOST_USER", DELETE),
        a("EMAIL_HOST_PASSWORD", DELETE, True),
        a("EMAIL_USE_TLS", relay["tls"]),
        a("EMAIL_USE_SSL", False),
    ]
    if _from(ctx):
        keys += [a("DEFAULT_FROM_EMAIL", _from(ctx)), a("SERVER_EMAIL", _from(ctx))]
    if ctx.get("timeout"):
        keys.append(a("EMAIL_TIMEOUT", int(ctx["timeout"])))
    return [spec(path, PythonFormat(), keys, 0o600)]


def nextcloud(path, ctx, opts, relay):
    _trust("nextcloud", ctx, relay)
    frm = _from(ctx) or ""
    if "@" not in frm:
        raise FormatError("preset nextcloud in via_relay mode needs smtp.from_address of the form local@domain")
    local, domain = frm.rsplit("@", 1)
    keys = [
        a("mail_smtpmode", "smtp"),
        a("mail_smtphost", relay["host"]),
        a("mail_smtpport", relay["port"]),
        # '' is no implicit TLS; Nextcloud's Symfony Mailer upgrades with STARTTLS where the relay offers it.
        a("mail_smtpsecure", ""),
        a("mail_smtpauth", False),
        a("mail_smtpname", DELETE),
        a("mail_smtppassword", DELETE, True),
        a("mail_from_address", local),
        a("mail_domain", domain),
    ]
    if ctx.get("timeout"):
        keys.append(a("mail_smtptimeout", int(ctx["timeout"])))
    return [spec(path, PhpArrayFormat(), keys, 0o600, skeleton="<?php\n")]


BUILDERS = dict(postfix=postfix, msmtp=msmtp, grafana=grafana, gitlab=gitlab, spring=spring,
                laravel=laravel, django=django, nextcloud=nextcloud)


def logical_values(ctx, opts):
    """The logical settings (see LOGICAL) of a generic format in via_relay mode; DELETE for a login's."""
    relay = relay_of(opts)
    values = dict(ctx)
    values.update(host=relay["host"], port=relay["port"], security="starttls" if relay["tls"] else "none",
                  starttls=relay["tls"], implicit_tls=False, ca_path=_trust(None, ctx, relay) or DELETE)
    for name in LOGIN_LOGICAL:
        values[name] = DELETE
    return values


def generic_assignments(fmt_name, ctx, opts, keys_map):
    """[(app key, value or DELETE, secret, what)] for a generic format in via_relay mode."""
    if not keys_map:
        raise FormatError("format %s needs keys: a map from logical names (%s) to the application's names"
                          % (fmt_name, ", ".join(LOGICAL)))
    values = logical_values(ctx, opts)
    out = []
    for logical, appkey in keys_map.items():
        if logical not in LOGICAL:
            raise FormatError("keys: %r is not a logical name; use one of %s" % (logical, ", ".join(LOGICAL)))
        value = values.get(logical)
        if value in (None, ""):
            raise FormatError("keys maps %s, but its value is missing or empty (smtp)" % logical)
        out.append(a(appkey, value, logical in SECRET_LOGICAL, "the value of %s" % logical))
    return out


def build(preset, fmt_name, path, ctx, opts, keys_map=None, section=None):
    """The file specs of a preset or a generic format in via_relay mode."""
    relay = relay_of(opts)
    if preset:
        if preset not in PRESETS:
            raise FormatError("unknown preset %r; choose one of %s" % (preset, ", ".join(sorted(PRESETS))))
        return BUILDERS[preset](path, ctx, opts, relay)
    if fmt_name not in FORMATS:
        raise FormatError("give preset or format (one of %s)" % ", ".join(sorted(FORMATS)))
    out = generic_assignments(fmt_name, ctx, opts, keys_map)
    fmt = "json" if fmt_name == "json" else FORMATS[fmt_name]()
    return [spec(path, fmt, out, 0o600, block=section if fmt_name == "ini" else None)]
