# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an application's file says now: where it sends, how, and as whom (for mailops.smtp.send_proof).

Internal use only. The file is cut into lines and keys by the collection's own format classes (the
ones mailops.smtp.settings merges with: key_of, block_bounds, continuation lines), so a key is found
here exactly where the settings module would write it; each format's value syntax is then undone
(quotes, escapes). The result is a plain dict; the password or client secret it may hold stays in
memory (key "secret") and is never returned by the module.

Standard library only: modules import it on target hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import ipaddress
import os
import re

from ansible_collections.mailops.smtp.plugins.module_utils import _formats_json
from ansible_collections.mailops.smtp.plugins.module_utils._formats_code import (
    PhpArrayFormat, PythonFormat, RubyFormat)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import FormatError, to_entries
from ansible_collections.mailops.smtp.plugins.module_utils._formats_env import EnvFormat, LaravelEnvFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_ini import GoIniFormat, IniFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_msmtp import MsmtpFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_postfix import MainCfFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_properties import (
    PropertiesFormat, SpringPropertiesFormat)
from ansible_collections.mailops.smtp.plugins.module_utils._presets import PRESETS

# The proof kinds (contract 4 of issue 21).
APP_COMMAND = "app_command"
SMTP_CLIENT = "smtp_client"
RELAY_LOG = "relay_log"
GRAPH_CLIENT = "graph_client"
# The ways an app's file can say it sends.
PATH_XOAUTH2 = "xoauth2"
PATH_VIA_RELAY = "via_relay"
PATH_CONNECTOR = "connector"
PATH_BASIC = "basic"
PATH_NONE = "none"
# The smtp_relay role's pipe transport (plugins/plugin_utils/_relay.py XOAUTH2_TRANSPORT; a unit test
# keeps the two equal: module_utils cannot import plugin_utils).
RELAY_XOAUTH2_TRANSPORT = "mailops_xoauth2"
DEFAULT_MSMTP_ACCOUNT = "mailops"
# Microsoft's connector endpoints (profiles.connector_host writes <tenant>.mail.protection.outlook.com).
_CONNECTOR_SUFFIXES = (".mail.protection.outlook.com", ".mail.protection.outlook.us",
                       ".mail.protection.partner.outlook.cn")


class ReadError(ValueError):
    """The app's file cannot be read or says nothing usable; the message says what to do."""


def is_loopback(host):
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ---- value syntax of each format ---------------------------------------------------------------

def _unquote_pair(text, quote):
    return text[1:-1] if len(text) >= 2 and text[0] == quote and text[-1] == quote else None


def _unescape(text, table):
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(table.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _rhs(line, sep_re):
    m = sep_re.search(line)
    return line[m.end():].strip() if m else ""


def _code_literal(text, true="true", false="false"):
    """A PHP or Ruby scalar as the code formats write it: quoted strings, true/false, integers."""
    text = text.strip().rstrip(",").strip()
    if text == true:
        return True
    if text == false:
        return False
    if re.match(r"^-?[0-9]+\Z", text):
        return int(text)
    single = _unquote_pair(text, "'")
    if single is not None:
        return _unescape(single, {"\\": "\\", "'": "'"})
    double = _unquote_pair(text, '"')
    if double is not None:
        return _unescape(double, {"\\": "\\", '"': '"', "$": "$", "#": "#", "n": "\n", "r": "\r", "t": "\t"})
    return text or None


def _python_literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        # A trailing comment after the literal.
        try:
            return ast.literal_eval(text.split("#", 1)[0].strip())
        except (ValueError, SyntaxError):
            return text


def _env_value(text):
    double = _unquote_pair(text, '"')
    if double is not None:
        return _unescape(double, {"\\": "\\", '"': '"', "$": "$", "n": "\n"})
    single = _unquote_pair(text, "'")
    if single is not None:
        return single
    return text.split(" #", 1)[0].strip()


def _properties_value(text):
    out, i = [], 0
    table = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and re.match(r"^[0-9a-fA-F]{4}", text[i + 2:i + 6]):
                out.append(chr(int(text[i + 2:i + 6], 16)))
                i += 6
                continue
            if nxt == "\n":  # a continuation: the next line's leading blanks go
                i += 2
                while i < len(text) and text[i] in " \t\f":
                    i += 1
                continue
            out.append(table.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    # utf-16 pairs written as two \\u escapes come back as surrogates: join them.
    return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")


_INI_SEP = re.compile(r"[=:]")
_EQ = re.compile(r"=")


def _ini_value(line):
    value = _rhs(" ".join(l.strip() for l in line.splitlines()), _INI_SEP)
    if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
        return value[3:-3]
    return value


def _go_ini_value(line):
    value = _ini_value(line)
    if not line.split("=", 1)[-1].strip().startswith('"""'):
        value = re.split(r"\s[#;]", value, 1)[0].strip()
    return value


def _msmtp_value(line):
    parts = line.strip().split(None, 1)
    value = parts[1].strip() if len(parts) > 1 else ""
    quoted = _unquote_pair(value, '"')
    return quoted if quoted is not None else value


def _main_cf_value(line):
    joined = " ".join(l.strip() for l in line.splitlines())
    return _rhs(joined, _EQ).replace("$$", "$")


def _properties_line_value(line):
    m = re.match(r"^[ \t\f]*(?:[^\s=:\\]|\\.)+[ \t\f]*[=:\s][ \t\f]*", line)
    return _properties_value(line[m.end():].rstrip("\r\n") if m else "")


_PHP_SEP = re.compile(r"=>")
_RUBY_SEP = re.compile(r"\]\s*=")

# format class -> value reader of one (logical) line.
_VALUE = {
    MsmtpFormat: _msmtp_value,
    MainCfFormat: _main_cf_value,
    IniFormat: _ini_value,
    GoIniFormat: _go_ini_value,
    EnvFormat: lambda line: _env_value(_rhs(line.strip(), _EQ)),
    LaravelEnvFormat: lambda line: _env_value(_rhs(line.strip(), _EQ)),
    PropertiesFormat: _properties_line_value,
    SpringPropertiesFormat: _properties_line_value,
    PythonFormat: lambda line: _python_literal(_rhs(line.strip(), _EQ)),
    PhpArrayFormat: lambda line: _code_literal(_rhs(line.strip(), _PHP_SEP)),
    RubyFormat: lambda line: _code_literal(_rhs(line.strip(), _RUBY_SEP)),
}


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError) as e:
        if not os.path.lexists(path):
            return None
        raise ReadError("cannot read %s: %s (run the task with become: true)" % (path, e.strerror))


def values_of(fmt, text, block=None):
    """{key: value} of a line-based file, read where mailops.smtp.settings would write (the last wins)."""
    entries = to_entries(fmt, text or "")
    bounds = fmt.block_bounds(entries, block)
    if bounds is None:
        return {}
    out = {}
    for e in entries[bounds[0]:bounds[1]]:
        key = fmt.key_of(e.text)
        if key is not None:
            out[key] = _VALUE[type(fmt)](e.text.rstrip("\r\n"))
    return out


def json_values(text, path, keys):
    """{app key: value} of the dotted keys in a JSON file."""
    data = _formats_json.load(text, path)
    out = {}
    for key in keys:
        try:
            value = _formats_json._get(data, _formats_json.split_path(key))
        except FormatError:
            value = None
        if value is not None:
            out[key] = value
    return out


# ---- what each preset's keys mean ----------------------------------------------------------------

def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "on", "1")


def _port(value, default=None):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def settings(**kw):
    """The normalised view of one app's file; see read_app."""
    out = dict(host=None, port=None, tls="none", user=None, secret=None, mechanism=None, from_address=None,
               path=PATH_NONE, kind=SMTP_CLIENT, account=None, config_dir=None, graph=None, exists=True)
    out.update(kw)
    return out


def _login_path(user, secret, host):
    """The way of an app that speaks SMTP itself: a login is basic auth; none at all is a relay (via_relay),
    which mailops.smtp writes for options.mode via_relay."""
    if user or secret:
        return PATH_BASIC
    if host and any(host.lower().endswith(s) for s in _CONNECTOR_SUFFIXES):
        return PATH_CONNECTOR
    return PATH_VIA_RELAY


def _smtp_app(host, port, tls, user, secret, from_address):
    return settings(host=host, port=port, tls=tls, user=user or None, secret=secret or None,
                    from_address=from_address or None, path=_login_path(user, secret, host),
                    mechanism="login" if (user or secret) else None)


def _msmtp(path, text, opts):
    account = opts.get("account") or DEFAULT_MSMTP_ACCOUNT
    v = values_of(MsmtpFormat(), text, account)
    if not v:
        raise ReadError("%s has no account %s: configure it first (smtp_configure)" % (path, account))
    auth = str(v.get("auth", "off")).lower()
    tls = "none"
    if _truthy(v.get("tls", "off")):
        tls = "starttls" if _truthy(v.get("tls_starttls", "on")) else "tls"
    if auth == "xoauth2":
        way, mech = PATH_XOAUTH2, "xoauth2"
    elif auth in ("off", ""):
        way, mech = _login_path(None, None, v.get("host")), None
    else:
        way, mech = PATH_BASIC, auth
    return settings(host=v.get("host"), port=_port(v.get("port"), 25), tls=tls, user=v.get("user"),
                    from_address=v.get("from"), mechanism=mech, path=way, kind=APP_COMMAND, account=account)


def _postfix(path, text, opts):
    v = values_of(MainCfFormat(), text)
    transports = " ".join(str(v.get(k) or "") for k in ("default_transport", "relay_transport"))
    relayhost = str(v.get("relayhost") or "")
    m = re.match(r"^\[?(?:ipv6:)?([^\]]+?)\]?(?::([0-9]+))?\Z", relayhost)
    host, port = (m.group(1), _port(m.group(2), 25)) if m and relayhost else (None, None)
    sasl = _truthy(v.get("smtp_sasl_auth_enable", "no"))
    if RELAY_XOAUTH2_TRANSPORT in transports:
        way, mech = PATH_XOAUTH2, "xoauth2"  # this Postfix is an smtp_relay relay, upstream xoauth2
    elif sasl:
        way, mech = PATH_BASIC, "login"
    elif host:
        way, mech = _login_path(None, None, host), None
    else:
        way, mech = PATH_NONE, None  # delivers directly: no relayhost, nothing mailops.smtp wrote
    tls = "tls" if _truthy(v.get("smtp_tls_wrappermode", "no")) else (
        "starttls" if str(v.get("smtp_tls_security_level", "")) not in ("", "none") else "none")
    return settings(host=host, port=port, tls=tls, mechanism=mech, path=way, kind=APP_COMMAND,
                    config_dir=path, from_address=(str(v.get("sender_canonical_maps") or "")
                                                   .replace("static:", "", 1) or None))


def _host_port(value):
    text = str(value or "")
    if ":" in text and not text.startswith("["):
        host, port = text.rsplit(":", 1)
        return host, _port(port)
    return text or None, None


def _grafana(path, text, opts):
    v = values_of(GoIniFormat(), text, "smtp")
    host, port = _host_port(v.get("host"))
    policy = str(v.get("startTLS_policy") or "")
    # gomail: port 465 is implicit TLS; otherwise STARTTLS unless NoStartTLS.
    tls = "tls" if port == 465 else {"NoStartTLS": "none", "OpportunisticStartTLS": "may"}.get(policy, "starttls")
    return _smtp_app(host, port or 25, tls, v.get("user"), v.get("password"), v.get("from_address"))


def _django(path, text, opts):
    v = values_of(PythonFormat(), text)
    tls = "tls" if v.get("EMAIL_USE_SSL") is True else ("starttls" if v.get("EMAIL_USE_TLS") is True else "none")
    return _smtp_app(v.get("EMAIL_HOST"), _port(v.get("EMAIL_PORT"), 25), tls, v.get("EMAIL_HOST_USER"),
                     v.get("EMAIL_HOST_PASSWORD"), v.get("DEFAULT_FROM_EMAIL"))


def _laravel(path, text, opts):
    v = values_of(LaravelEnvFormat(), text)
    enc = str(v.get("MAIL_ENCRYPTION") or "").lower()
    scheme = str(v.get("MAIL_SCHEME") or "").lower()
    # Symfony Mailer (Laravel 9+) starts TLS whenever the server offers it, unless TLS is implicit.
    tls = "tls" if enc == "ssl" or scheme == "smtps" else ("starttls" if enc == "tls" else "may")
    return _smtp_app(v.get("MAIL_HOST"), _port(v.get("MAIL_PORT"), 25), tls, v.get("MAIL_USERNAME"),
                     v.get("MAIL_PASSWORD"), v.get("MAIL_FROM_ADDRESS"))


def _spring(path, text, opts):
    v = values_of(SpringPropertiesFormat(), text)
    p = "spring.mail."
    tls = "tls" if v.get(p + "protocol") == "smtps" else (
        "starttls" if _truthy(v.get(p + "properties.mail.smtp.starttls.enable", "false")) else "none")
    return _smtp_app(v.get(p + "host"), _port(v.get(p + "port"), 25), tls, v.get(p + "username"),
                     v.get(p + "password"), v.get(p + "properties.mail.smtp.from"))


def _nextcloud(path, text, opts):
    v = values_of(PhpArrayFormat(), text)
    # Symfony Mailer (Nextcloud 26+): '' is no implicit TLS, and STARTTLS wherever the server offers it.
    tls = "tls" if v.get("mail_smtpsecure") == "ssl" else "may"
    frm = None
    if v.get("mail_from_address") and v.get("mail_domain"):
        frm = "%s@%s" % (v["mail_from_address"], v["mail_domain"])
    auth = v.get("mail_smtpauth") is True
    return _smtp_app(v.get("mail_smtphost"), _port(v.get("mail_smtpport"), 25), tls,
                     v.get("mail_smtpname") if auth else None, v.get("mail_smtppassword") if auth else None, frm)


def _gitlab(path, text, opts):
    v = values_of(RubyFormat(), text)

    def g(key):
        return v.get("gitlab_rails['%s']" % key)
    if g("microsoft_graph_mailer_enabled") is True:
        authority = str(g("microsoft_graph_mailer_azure_ad_endpoint") or "https://login.microsoftonline.com")
        tenant = g("microsoft_graph_mailer_tenant")
        graph = {"token_url": "%s/%s/oauth2/v2.0/token" % (authority.rstrip("/"), tenant),
                 "tenant_id": tenant, "client_id": g("microsoft_graph_mailer_client_id"),
                 "graph_url": str(g("microsoft_graph_mailer_graph_endpoint") or "https://graph.microsoft.com"),
                 "sender": g("microsoft_graph_mailer_user_id")}
        return settings(path=PATH_XOAUTH2, kind=GRAPH_CLIENT, graph=graph, user=graph["sender"],
                        secret=g("microsoft_graph_mailer_client_secret"), mechanism="graph",
                        from_address=g("gitlab_email_from") or graph["sender"])
    tls = "tls" if g("smtp_tls") is True else ("starttls" if g("smtp_enable_starttls_auto") is True else "none")
    return _smtp_app(g("smtp_address"), _port(g("smtp_port"), 25), tls, g("smtp_user_name"), g("smtp_password"),
                     g("gitlab_email_from"))


_PRESET_READERS = dict(msmtp=_msmtp, postfix=_postfix, grafana=_grafana, django=_django, laravel=_laravel,
                       spring=_spring, nextcloud=_nextcloud, gitlab=_gitlab)
_GENERIC_FORMATS = {"ini": IniFormat, "env": EnvFormat, "properties": PropertiesFormat}


def _generic(fmt_name, path, text, keys, section):
    if not keys:
        raise ReadError("format %s needs keys (the map from logical names to the app's keys)" % fmt_name)
    if fmt_name == "json":
        raw = json_values(text, path, list(keys.values()))
    elif fmt_name in _GENERIC_FORMATS:
        raw = values_of(_GENERIC_FORMATS[fmt_name](), text, section if fmt_name == "ini" else None)
    else:
        raise ReadError("format %s cannot be read on the target (no parser in Python's standard library): "
                        "prove this app from the controller" % fmt_name)
    v = dict((logical, raw.get(appkey)) for logical, appkey in keys.items())
    if v.get("implicit_tls") is not None and _truthy(v["implicit_tls"]):
        tls = "tls"
    elif v.get("security") in ("tls", "starttls", "none"):
        tls = v["security"]
    elif v.get("starttls") is not None:
        tls = "starttls" if _truthy(v["starttls"]) else "none"
    else:
        tls = "starttls" if _port(v.get("port")) == 587 else "none"
    return _smtp_app(v.get("host"), _port(v.get("port"), 25), tls, v.get("username"), v.get("password"),
                     v.get("from_address"))


def app_file(app):
    """The file an app's settings are in: its path, or the preset's default (Postfix: main.cf in the dir)."""
    preset = app.get("preset")
    path = app.get("path") or (PRESETS.get(preset) or {}).get("path")
    if not path:
        raise ReadError("app %s: give its path (preset %s has no default path)" % (app.get("name"), preset))
    return os.path.join(path, "main.cf") if preset == "postfix" else path, path


def read_app(app):
    """settings(): host, port, tls (none/starttls/may/tls), user, secret (memory only), mechanism,
    from_address, path (the way: xoauth2/via_relay/connector/basic/none), kind (the proof kind),
    account (msmtp), config_dir (postfix), graph (gitlab's Graph mailer), exists."""
    preset = app.get("preset")
    if preset and preset not in _PRESET_READERS:
        raise ReadError("unknown preset %r" % preset)
    if not preset and not app.get("format"):
        raise ReadError("app %s: give preset or format" % app.get("name"))
    file_path, given = app_file(app)
    text = read_text(file_path)
    if text is None:
        return settings(exists=False)
    opts = app.get("options") or {}
    try:
        if preset:
            out = _PRESET_READERS[preset](given, text, opts)
        else:
            out = _generic(app["format"], file_path, text, app.get("keys") or {}, app.get("section"))
    except FormatError as e:
        raise ReadError(str(e))
    if out["kind"] == SMTP_CLIENT and not out["host"]:
        raise ReadError("%s names no mail server host: configure the app first (smtp_configure)" % file_path)
    return out
