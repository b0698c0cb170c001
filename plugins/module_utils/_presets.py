# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preset table: which settings each application really reads, and in which file.

Internal use only. Each preset turns the logical SMTP settings (ctx) into file
specs: a path, a format, an optional block, and owned (key, value, secret) triples.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import DELETE, FormatError
from ansible_collections.mailops.smtp.plugins.module_utils._formats_code import (
    PhpArrayFormat, PythonFormat, RubyFormat)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_env import EnvFormat, LaravelEnvFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_ini import GoIniFormat, IniFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_msmtp import MsmtpFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_postfix import (
    MainCfFormat, SaslMapFormat, sasl_value)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_properties import (
    PropertiesFormat, SpringPropertiesFormat)
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import connector_host

SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
SYSTEM_CA_DIR = "/etc/ssl/certs"
DB_SUFFIX = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb"}

# path default, new-file mode, default reload command, can do XOAUTH2, can carry ca_path.
# A new file that holds the secret is 0600; give mode (and group) for an app that reads it as another user.
PRESETS = {
    "postfix": dict(path="/etc/postfix", mode=0o644, reload="postfix reload", oauth=False, ca=True),
    "msmtp": dict(path="/etc/msmtprc", mode=0o600, reload=None, oauth=True, ca=True),
    "grafana": dict(path="/etc/grafana/grafana.ini", mode=0o600, reload=None, oauth=False, ca=False),
    "gitlab": dict(path="/etc/gitlab/gitlab.rb", mode=0o600, reload="gitlab-ctl reconfigure", oauth=True, ca=True),
    "spring": dict(path=None, mode=0o600, reload=None, oauth=False, ca=False),
    "laravel": dict(path=None, mode=0o600, reload=None, oauth=False, ca=False),
    "django": dict(path=None, mode=0o600, reload=None, oauth=False, ca=False),
    "nextcloud": dict(path="/var/www/nextcloud/config/smtp.config.php", mode=0o600, reload=None,
                      oauth=False, ca=False),
}
FORMATS = {
    "ini": IniFormat, "env": EnvFormat, "properties": PropertiesFormat, "json": None, "yaml": None,
}
# options.mode of each preset (None: the preset's direct way, logging in to the endpoint itself);
# via_relay (module_utils/_presets_via_relay.py) sends through a relay of our own with no login.
MODES = {"postfix": ("relay", "connector", "via_relay")}
OTHER_MODES = (None, "via_relay")
LOGICAL = ("host", "port", "security", "starttls", "implicit_tls", "mechanism", "username", "password",
           "from_address", "from_name", "timeout", "ca_path", "tenant_id", "client_id", "client_secret")
SECRET_LOGICAL = ("password", "client_secret")


def spec(path, fmt, assignments, mode, block=None, role="main", **extra):
    d = dict(path=path, fmt=fmt, block=block, assignments=assignments, mode=mode, role=role)
    d.update(extra)
    return d


def need(ctx, name, preset):
    v = ctx.get(name)
    if v in (None, ""):
        where = "credential" if name in ("username", "password", "tenant_id", "client_id", "client_secret") else "smtp"
        raise FormatError("preset %s needs %s.%s, which is missing or empty" % (preset, where, name))
    return v


def a(key, value, secret=False, what=None):
    return (key, value, secret, what or ("the value of %s" % key))


def refuse_oauth(preset):
    raise FormatError(
        "preset %s cannot authenticate with XOAUTH2. Send its mail through a relay that can, with "
        "options.mode=via_relay (no user, no password in the application's settings; the relay logs in "
        "with XOAUTH2 or through the connector, Postfix's options.mode=connector, which relays to "
        "<tenant>.mail.protection.outlook.com:25 without a mailbox password)." % preset)


def bundle_spec(path, ctx):
    """A CA file for applications that take exactly one: system CAs plus ca_path."""
    return spec(path + ".ca-bundle.pem", "bundle", None, 0o644, role="bundle",
                sources=[ctx.get("system_ca_file") or SYSTEM_CA_FILE, ctx["ca_path"]])


def _sec(ctx):
    return ctx.get("security") or "starttls"


def postfix(path, ctx, opts):
    mode = opts.get("mode", "relay")
    cfg = path
    main = os.path.join(cfg, "main.cf")
    ca_file = ctx.get("ca_path") or SYSTEM_CA_FILE
    common = [
        a("smtp_tls_security_level", opts.get("tls_security_level", "secure")),
        a("smtp_tls_CAfile", ca_file),
        a("smtp_tls_CApath", SYSTEM_CA_DIR),
        a("smtp_tls_mandatory_protocols", ">=TLSv1.2"),
        a("smtp_destination_concurrency_limit", int(opts.get("concurrency_limit", 2))),
        a("smtp_destination_rate_delay", str(opts.get("rate_delay", "2s"))),
        a("default_transport", "smtp"),
        a("relay_transport", "smtp"),
    ]
    rewrite = opts.get("rewrite_sender", True)
    sender = ctx.get("from_address") or ctx.get("username")
    if rewrite and sender:
        if re.search(r"[\s{}$,]", sender):
            raise FormatError("from_address cannot be used in a static: map (whitespace, braces, '$' or ',')")
        common.append(a("sender_canonical_maps", "static:%s" % sender))
    if mode == "connector":
        host = ctx.get("host")
        if not host or "{tenant}" in host:
            host = connector_host(opts.get("tenant") or need(ctx, "tenant", "postfix connector"))
        keys = [
            a("relayhost", "[%s]:%d" % (host, int(ctx.get("port") or 25))),
            a("smtp_sasl_auth_enable", False),
            a("smtp_sasl_password_maps", DELETE),
            a("smtp_sasl_security_options", DELETE),
            a("smtp_sasl_mechanism_filter", DELETE),
            a("smtp_tls_wrappermode", False),
        ] + common
        if opts.get("client_cert"):
            keys += [a("smtp_tls_cert_file", opts["client_cert"]),
                     a("smtp_tls_key_file", opts.get("client_key") or opts["client_cert"])]
        return [spec(main, MainCfFormat(), keys, 0o644, config_dir=cfg)]
    if ctx.get("mechanism") == "xoauth2":
        raise FormatError(
            "Postfix on Debian 12 cannot do XOAUTH2 (sasl-xoauth2 is not packaged). Use "
            "options.mode=connector to relay through <tenant>.mail.protection.outlook.com:25, "
            "or the msmtp preset, which can.")
    db_type = ctx.get("postfix_db_type") or "hash"
    if db_type not in DB_SUFFIX:
        raise FormatError("map type %s is not supported; set options.map_type to one of %s"
                          % (db_type, ", ".join(sorted(DB_SUFFIX))))
    nexthop = "[%s]:%d" % (need(ctx, "host", "postfix"), int(need(ctx, "port", "postfix")))
    map_path = os.path.join(cfg, "sasl_passwd")
    keys = [
        a("relayhost", nexthop),
        a("smtp_sasl_auth_enable", True),
        a("smtp_sasl_password_maps", "%s:%s" % (db_type, map_path)),
        a("smtp_sasl_security_options", "noanonymous"),
        a("smtp_sasl_mechanism_filter", "login"),
        a("smtp_tls_wrappermode", _sec(ctx) == "tls"),
    ] + common
    value = sasl_value(need(ctx, "username", "postfix"), need(ctx, "password", "postfix"))
    return [
        spec(map_path, SaslMapFormat(), [a(nexthop, value, True, "the password")], 0o600, role="map",
             db_type=db_type, db_suffix=DB_SUFFIX[db_type], config_dir=cfg),
        spec(main, MainCfFormat(), keys, 0o644, config_dir=cfg),
    ]


def msmtp(path, ctx, opts):
    account = opts.get("account", "mailops")
    oauth = ctx.get("mechanism") == "xoauth2"
    specs = []
    trust = "system"
    if ctx.get("ca_path"):
        b = bundle_spec(path, ctx)
        specs.append(b)
        trust = b["path"]
    keys = [
        a("host", need(ctx, "host", "msmtp")),
        a("port", int(need(ctx, "port", "msmtp"))),
        a("tls", True),
        a("tls_starttls", _sec(ctx) == "starttls"),
        a("tls_trust_file", trust),
        a("auth", "xoauth2" if oauth else "login"),
        a("user", need(ctx, "username", "msmtp")),
    ]
    if oauth:
        token_file = opts.get("token_file") or "/var/lib/mailops-smtp/%s.token" % account
        if not re.match(r"^/[A-Za-z0-9_./\-]+\Z", token_file):
            raise FormatError("options.token_file must be an absolute path of letters, digits, '.', '_', '-', '/'")
        keys += [a("password", DELETE), a("passwordeval", "cat %s" % token_file)]
    else:
        keys += [a("passwordeval", DELETE), a("password", need(ctx, "password", "msmtp"), True, "the password")]
    keys.append(a("from", ctx.get("from_address") or ctx["username"]))
    if ctx.get("timeout"):
        keys.append(a("timeout", int(ctx["timeout"])))
    specs.append(spec(path, MsmtpFormat(), keys, 0o600, block=account,
                      msmtp_default=account if opts.get("default_account") else None))
    return specs


def grafana(path, ctx, opts):
    keys = [
        a("enabled", True),
        a("host", "%s:%d" % (need(ctx, "host", "grafana"), int(need(ctx, "port", "grafana")))),
        a("user", need(ctx, "username", "grafana")),
        a("password", need(ctx, "password", "grafana"), True, "the password"),
        a("from_address", ctx.get("from_address") or ctx["username"]),
        a("startTLS_policy", "MandatoryStartTLS" if _sec(ctx) == "starttls" else "NoStartTLS"),
        a("skip_verify", False),
    ]
    if ctx.get("from_name"):
        keys.append(a("from_name", ctx["from_name"]))
    return [spec(path, GoIniFormat(), keys, 0o600, block="smtp")]


def gitlab(path, ctx, opts):
    def g(k, v, secret=False, what=None):
        return a("gitlab_rails['%s']" % k, v, secret, what)
    specs = []
    frm = ctx.get("from_address") or ctx.get("username")
    if ctx.get("mechanism") == "xoauth2":
        # GitLab's Microsoft Graph mailer: the app needs Graph Mail.Send, not SMTP. The SMTP login of a file
        # moved off basic auth goes (its password above all), as the via_relay mode removes the Graph secret.
        keys = [
            g("smtp_enable", False),
            g("smtp_user_name", DELETE),
            g("smtp_password", DELETE, True),
            g("smtp_authentication", DELETE),
            g("microsoft_graph_mailer_enabled", True),
            g("microsoft_graph_mailer_user_id", need(ctx, "username", "gitlab")),
            g("microsoft_graph_mailer_tenant", need(ctx, "tenant_id", "gitlab")),
            g("microsoft_graph_mailer_client_id", need(ctx, "client_id", "gitlab")),
            g("microsoft_graph_mailer_client_secret", need(ctx, "client_secret", "gitlab"), True,
              "the client secret"),
            g("microsoft_graph_mailer_azure_ad_endpoint", opts.get("azure_ad_endpoint") or ctx.get("authority")
              or "https://login.microsoftonline.com"),
            g("microsoft_graph_mailer_graph_endpoint", opts.get("graph_endpoint") or "https://graph.microsoft.com"),
        ]
    else:
        keys = [
            g("microsoft_graph_mailer_enabled", False),
            g("smtp_enable", True),
            g("smtp_address", need(ctx, "host", "gitlab")),
            g("smtp_port", int(need(ctx, "port", "gitlab"))),
            g("smtp_user_name", need(ctx, "username", "gitlab")),
            g("smtp_password", need(ctx, "password", "gitlab"), True, "the password"),
            g("smtp_authentication", "login"),
            g("smtp_enable_starttls_auto", _sec(ctx) == "starttls"),
            g("smtp_tls", _sec(ctx) == "tls"),
            g("smtp_openssl_verify_mode", "peer"),
        ]
        if ctx.get("ca_path"):
            b = bundle_spec(path, ctx)
            specs.append(b)
            keys.append(g("smtp_ca_file", b["path"]))
    if frm:
        keys.append(g("gitlab_email_from", frm))
    if ctx.get("from_name"):
        keys.append(g("gitlab_email_display_name", ctx["from_name"]))
    specs.append(spec(path, RubyFormat(), keys, 0o600))
    return specs


def spring(path, ctx, opts):
    p = "spring.mail."
    keys = [
        a(p + "host", need(ctx, "host", "spring")),
        a(p + "port", int(need(ctx, "port", "spring"))),
        a(p + "username", need(ctx, "username", "spring")),
        a(p + "password", need(ctx, "password", "spring"), True, "the password"),
        a(p + "protocol", "smtp" if _sec(ctx) == "starttls" else "smtps"),
        a(p + "properties.mail.smtp.auth", True),
        a(p + "properties.mail.smtp.starttls.enable", _sec(ctx) == "starttls"),
        a(p + "properties.mail.smtp.starttls.required", _sec(ctx) == "starttls"),
    ]
    if ctx.get("from_address"):
        keys.append(a(p + "properties.mail.smtp.from", ctx["from_address"]))
    if ctx.get("timeout"):
        ms = int(ctx["timeout"]) * 1000
        keys += [a(p + "properties.mail.smtp.connectiontimeout", ms),
                 a(p + "properties.mail.smtp.timeout", ms),
                 a(p + "properties.mail.smtp.writetimeout", ms)]
    return [spec(path, SpringPropertiesFormat(), keys, 0o600)]


def laravel(path, ctx, opts):
    keys = [
        a("MAIL_MAILER", "smtp"),
        a("MAIL_HOST", need(ctx, "host", "laravel")),
        a("MAIL_PORT", int(need(ctx, "port", "laravel"))),
        a("MAIL_USERNAME", need(ctx, "username", "laravel")),
        a("MAIL_PASSWORD", need(ctx, "password", "laravel"), True, "the password"),
        a("MAIL_ENCRYPTION", "tls" if _sec(ctx) == "starttls" else "ssl"),
        a("MAIL_FROM_ADDRESS", ctx.get("from_address") or ctx["username"]),
    ]
    if ctx.get("from_name"):
        keys.append(a("MAIL_FROM_NAME", ctx["from_name"]))
    return [spec(path, LaravelEnvFormat(), keys, 0o600)]


def django(path, ctx, opts):
    frm = ctx.get("from_address") or ctx.get("username")
    keys = [
        a("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
        a("EMAIL_HOST", need(ctx, "host", "django")),
        a("EMAIL_PORT", int(need(ctx, "port", "django"))),
        a("EMAIL_HOST_USER", need(ctx, "username", "django")),
        a("EMAIL_HOST_PASSWORD", need(ctx, "password", "django"), True, "the password"),
        a("EMAIL_USE_TLS", _sec(ctx) == "starttls"),
        a("EMAIL_USE_SSL", _sec(ctx) == "tls"),
        a("DEFAULT_FROM_EMAIL", frm),
        a("SERVER_EMAIL", frm),
    ]
    if ctx.get("timeout"):
        keys.append(a("EMAIL_TIMEOUT", int(ctx["timeout"])))
    return [spec(path, PythonFormat(), keys, 0o600)]


def nextcloud(path, ctx, opts):
    frm = ctx.get("from_address") or ctx.get("username") or ""
    if "@" not in frm:
        raise FormatError("preset nextcloud needs smtp.from_address (or a username) of the form local@domain")
    local, domain = frm.rsplit("@", 1)
    keys = [
        a("mail_smtpmode", "smtp"),
        a("mail_smtphost", need(ctx, "host", "nextcloud")),
        a("mail_smtpport", int(need(ctx, "port", "nextcloud"))),
        a("mail_smtpsecure", "ssl" if _sec(ctx) == "tls" else ""),
        a("mail_smtpauth", True),
        a("mail_smtpname", need(ctx, "username", "nextcloud")),
        a("mail_smtppassword", need(ctx, "password", "nextcloud"), True, "the password"),
        a("mail_from_address", local),
        a("mail_domain", domain),
    ]
    if ctx.get("timeout"):
        keys.append(a("mail_smtptimeout", int(ctx["timeout"])))
    return [spec(path, PhpArrayFormat(), keys, 0o600, skeleton="<?php\n")]


BUILDERS = dict(postfix=postfix, msmtp=msmtp, grafana=grafana, gitlab=gitlab, spring=spring,
                laravel=laravel, django=django, nextcloud=nextcloud)


def generic(fmt_name, path, ctx, keys_map, section):
    if not keys_map:
        raise FormatError("format %s needs keys: a map from logical names (%s) to the application's names"
                          % (fmt_name, ", ".join(LOGICAL)))
    out = []
    for logical, appkey in keys_map.items():
        if logical not in LOGICAL:
            raise FormatError("keys: %r is not a logical name; use one of %s" % (logical, ", ".join(LOGICAL)))
        value = ctx.get(logical)
        if value in (None, ""):
            raise FormatError("keys maps %s, but its value is missing or empty (credential or smtp)" % logical)
        out.append(a(appkey, value, logical in SECRET_LOGICAL, "the value of %s" % logical))
    fmt = "json" if fmt_name == "json" else FORMATS[fmt_name]()
    return [spec(path, fmt, out, 0o600, block=section if fmt_name == "ini" else None)]


def check_mode(preset, opts):
    """Refuse an options.mode the preset (or a generic format) does not have, before anything is written."""
    mode = (opts or {}).get("mode")
    allowed = MODES.get(preset, OTHER_MODES)
    if mode not in allowed and not (preset == "postfix" and mode is None):
        raise FormatError("options.mode for %s is %s, not %r" % (
            preset or "a generic format", " or ".join(m for m in allowed if m), mode))


def build(preset, fmt_name, path, ctx, opts, keys_map=None, section=None):
    """Return the file specs for a preset or a generic format."""
    if preset:
        if preset not in PRESETS:
            raise FormatError("unknown preset %r; choose one of %s" % (preset, ", ".join(sorted(PRESETS))))
        meta = PRESETS[preset]
        if ctx.get("mechanism") == "xoauth2" and not meta["oauth"] and not (
                preset == "postfix" and opts.get("mode") == "connector"):
            if preset == "postfix":
                return postfix(path, ctx, opts)  # raises with the Postfix-specific advice
            refuse_oauth(preset)
        if ctx.get("ca_path") and not meta["ca"]:
            raise FormatError(
                "preset %s has no setting for an extra CA: the application reads only the system "
                "trust store. Add %s to the system store (update-ca-certificates) and leave "
                "smtp.ca_path unset." % (preset, ctx["ca_path"]))
        return BUILDERS[preset](path, ctx, opts or {})
    if fmt_name not in FORMATS:
        raise FormatError("give preset or format (one of %s)" % ", ".join(sorted(FORMATS)))
    return generic(fmt_name, path, ctx, keys_map, section)
