# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the one definition of a line and of each format's decision for line breaks (issue 15, item 1
and 6): every character some reader takes as a line, record or field break is either refused, with an error
that names the setting and never the value, or encoded so that the value stays on its line.

The real parsers read the encoded values back in tests/integration/settings_parsers/test_roundtrip.py.
"""

from __future__ import annotations

import ast
import json

import pytest

from ansible_collections.mailops.smtp.plugins.module_utils import _formats_json
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine
from ansible_collections.mailops.smtp.plugins.module_utils._formats_code import (
    PhpArrayFormat, PythonFormat, RubyFormat)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    FormatError, merge, split_lines)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_env import EnvFormat, LaravelEnvFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_ini import GoIniFormat, IniFormat
from ansible_collections.mailops.smtp.plugins.module_utils._formats_msmtp import MsmtpFormat, set_default
from ansible_collections.mailops.smtp.plugins.module_utils._formats_postfix import (
    MainCfFormat, SaslMapFormat, sasl_value)
from ansible_collections.mailops.smtp.plugins.module_utils._formats_properties import (
    PropertiesFormat, SpringPropertiesFormat)

# Stated here, not imported: what the code must treat as a break.
BREAKS = {"CR": "\r", "LF": "\n", "VT": "\x0b", "FF": "\x0c", "FS": "\x1c", "GS": "\x1d", "RS": "\x1e",
          "NEL": "\x85", "LS": "\u2028", "PS": "\u2029"}
SECRET = "S3cret-before"

# (format, block, key, a file it merges into): the line-based writers.
LINE_FORMATS = {
    "ini": (IniFormat(), "mail", "password", "[mail]\nhost = h\n"),
    "grafana": (GoIniFormat(), "smtp", "password", "[smtp]\nhost = h\n"),
    "env": (EnvFormat(), None, "SMTP_PASSWORD", "OTHER=1\n"),
    "laravel": (LaravelEnvFormat(), None, "MAIL_PASSWORD", "APP_NAME=Laravel\n"),
    "properties": (PropertiesFormat(), None, "mail.password", "server.port=8080\n"),
    "spring": (SpringPropertiesFormat(), None, "spring.mail.password", "server.port=8080\n"),
    "msmtp": (MsmtpFormat(), "mailops", "password", "account mailops\nhost h\n"),
    "postfix main.cf": (MainCfFormat(), None, "smtp_tls_CAfile", "relayhost = [h]:587\n"),
    "postfix map": (SaslMapFormat(), None, "[h]:587", "# map\n"),
    "php": (PhpArrayFormat(), None, "mail_smtppassword", "<?php\n$CONFIG = array (\n  'x' => 1,\n);\n"),
    "ruby": (RubyFormat(), None, "gitlab_rails['smtp_password']", "external_url 'https://g'\n"),
    "python": (PythonFormat(), None, "EMAIL_HOST_PASSWORD", "DEBUG = False\n"),
}
REFUSING = ("ini", "grafana", "env", "laravel", "msmtp", "postfix main.cf", "postfix map")
ENCODING = ("properties", "spring", "php", "ruby", "python")
assert set(REFUSING + ENCODING) == set(LINE_FORMATS)


def write(name, text, value):
    fmt, block, key, _seed = LINE_FORMATS[name]
    return merge(fmt, text, [(key, value, True, "the value of password")], block, "managed by mailops.smtp: x",
                 "k")


# ---- the one definition of a line ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(set(BREAKS) - {"LF"}))
def test_a_line_ends_only_after_lf(name):
    text = "a = 1%sb = 2\nc = 3\r\nlast" % BREAKS[name]
    assert split_lines(text) == ["a = 1%sb = 2\n" % BREAKS[name], "c = 3\r\n", "last"]


@pytest.mark.parametrize("text", ["", "\n", "x", "x\n", "x\n\n", "\r\n", "a\rb\n", "\n\nx"])
def test_split_lines_keeps_every_character(text):
    assert "".join(split_lines(text)) == text
    assert all(line.endswith("\n") for line in split_lines(text)[:-1])
    assert "" not in split_lines(text)


def test_msmtp_default_account_line_is_found_by_the_same_lines():
    # The msmtp default account line is found by lines: a VT in a foreign line must not make a new one.
    text = "account a\nuser x\x0baccount default : evil\n"
    assert set_default(text, "a") == text + "account default : a\n"


# ---- each format's decision ---------------------------------------------------------------------

@pytest.mark.parametrize("brk", sorted(BREAKS))
@pytest.mark.parametrize("name", REFUSING)
def test_formats_without_an_escape_refuse_every_break(name, brk):
    value = "pw%sinjected = 1" % BREAKS[brk]
    fmt, _block, key, seed = LINE_FORMATS[name]
    with pytest.raises(FormatError) as err:
        if name == "postfix map":
            sasl_value("u@contoso.com", value)
        write(name, seed, value)
    msg = str(err.value)
    assert "the value of password" in msg or "the password" in msg
    assert value not in msg and "injected" not in msg
    assert "line break" in msg and "Choose a value without" in msg and "PS (U+2029)" in msg


@pytest.mark.parametrize("brk", sorted(BREAKS))
@pytest.mark.parametrize("name", ENCODING)
def test_formats_with_an_escape_keep_the_value_on_one_line(name, brk):
    value = "pw%sinjected = 1 #'\"$x#{y}\\" % BREAKS[brk]
    _fmt, _block, _key, seed = LINE_FORMATS[name]
    first = write(name, seed, value)
    lines = split_lines(first.text)
    assert len(lines) == len(split_lines(seed)) + 2  # the marker and the value's one line
    assert not any(ch in first.text.replace("\n", "") for ch in BREAKS.values())
    assert len(first.text.splitlines()) == len(lines)
    rerun = write(name, first.text, value)
    assert not rerun.changed and rerun.text == first.text
    rotated = write(name, first.text, "new-value")
    assert rotated.secret_changed and len(split_lines(rotated.text)) == len(lines)


@pytest.mark.parametrize("brk", sorted(BREAKS))
def test_python_literal_reads_back_exactly(brk):
    value = "pw%sinjected = 1 #'\"\\" % BREAKS[brk]
    line = PythonFormat().render("EMAIL_HOST_PASSWORD", value, "the value of password")
    assert ast.literal_eval(line.split(" = ", 1)[1]) == value


@pytest.mark.parametrize("fmt,want", [
    (PhpArrayFormat(), '  \'p\' => "a\\u{b}b\\$x{\\$y}\\"\\\\",'),
    (RubyFormat(), 'gitlab_rails[\'p\'] = "a\\u{b}b$x\\#{y}\\"\\\\"'),
])
def test_php_and_ruby_switch_to_escaped_double_quotes_only_when_needed(fmt, want):
    key = "gitlab_rails['p']" if isinstance(fmt, RubyFormat) else "p"
    assert fmt.render(key, 'a\x0bb$x{$y}"\\' if isinstance(fmt, PhpArrayFormat) else 'a\x0bb$x#{y}"\\',
                      "the value of password") == want
    assert fmt.render(key, "plain $x #{y}", "v").endswith("'plain $x #{y}'" + ("," if key == "p" else ""))


@pytest.mark.parametrize("brk", sorted(BREAKS))
def test_properties_escape_every_break_as_ascii(brk):
    line = PropertiesFormat().render("mail.password", "a%sb" % BREAKS[brk], "the value of password")
    assert line.isascii() and "\\" in line and line.startswith("mail.password=a\\") and line.endswith("b")


@pytest.mark.parametrize("brk", sorted(BREAKS))
def test_json_escapes_every_break(brk):
    value = "a%sb" % BREAKS[brk]
    res = _formats_json.merge('{"keep": 1}\n', [("smtp.password", value, True, "the value of password")],
                              "/x.json", "k")
    assert not any(ch in res.text.replace("\n", "") for ch in BREAKS.values())
    assert json.loads(res.text)["smtp"]["password"] == value


# ---- item 6: a trailing backslash in .env ---------------------------------------------------------

@pytest.mark.parametrize("value,line", [
    ("ends-with-backslash\\", "K=ends-with-backslash\\"),  # bare: both readers take it literally
    ("\\", "K=\\"),
    ("a\\b", 'K="a\\\\b"'),
    ('q"uote\'', 'K="q\\"uote\'"'),
])
def test_env_writes_what_python_dotenv_and_phpdotenv_both_read(value, line):
    assert EnvFormat().render("K", value, "the value of password") == line


@pytest.mark.parametrize("value", ["ends with space\\", "quote'\\", "hash#\\", "dollar$\\", "tab\t\\"])
def test_env_refuses_a_trailing_backslash_it_cannot_write_bare(value):
    with pytest.raises(FormatError) as err:
        EnvFormat().render("K", value, "the value of password")
    assert "the value of password ends with a backslash" in str(err.value)
    assert "Choose a value that does not end with a backslash" in str(err.value)


# ---- names and the values that go into SMTP commands and headers ---------------------------------

@pytest.mark.parametrize("fmt,key", [(IniFormat(), "password\n"), (EnvFormat(), "K\n"), (PropertiesFormat(), "k\n"),
                                     (MsmtpFormat(), "password\n"), (MainCfFormat(), "relayhost\n"),
                                     (PythonFormat(), "X\n"), (PhpArrayFormat(), "x\n"),
                                     (RubyFormat(), "gitlab_rails['x']\n")])
def test_a_key_name_with_a_trailing_newline_is_refused(fmt, key):
    with pytest.raises(FormatError):
        fmt.render(key, "v", "v")


@pytest.mark.parametrize("block", ["mail\x0b", "mail\u2028x"])
def test_ini_section_with_a_break_is_refused(block):
    with pytest.raises(FormatError):
        IniFormat().new_block(block)


@pytest.mark.parametrize("brk", sorted(BREAKS))
@pytest.mark.parametrize("field", ["host", "username", "from_address", "from_name"])
def test_one_line_settings_refuse_every_break(field, brk):
    smtp = {"host": "smtp.office365.com", "port": 587}
    cred = {"type": "basic", "username": "svc@contoso.com", "password": SECRET}
    bad = "x%sRCPT TO:<evil@example.com>" % BREAKS[brk]
    if field == "username":
        cred["username"] = bad
    else:
        smtp[field] = bad
    with pytest.raises(engine.SettingsError) as err:
        engine.build_context(smtp, cred)
    assert "the value of %s contains CR, LF, VT" % field in str(err.value)
    assert "evil" not in str(err.value) and SECRET not in str(err.value)
