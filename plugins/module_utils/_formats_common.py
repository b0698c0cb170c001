# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The merge of owned keys into line-based config files.

Internal use only. Only the logical lines of owned keys (and the one marker
line) are touched; every other line is kept byte for byte. Each format supplies
how a line names its key, how a value is written, and where its blocks are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mailops.smtp.plugins.module_utils import _marker
from ansible_collections.mailops.smtp.plugins.module_utils._mask import fingerprint, mask_line, secret_line

DELETE = object()
# The format's own null, where it has one (Laravel's env() reads the bare word null as PHP null);
# a format without one refuses it like any value that is not text, a number or a boolean.
NULL = object()


class FormatError(ValueError):
    """A value cannot be written in this format. The message never holds the value."""


# One definition of a line, used wherever a file is cut into lines (reading and
# writing): a line ends after LF; a CR before the LF belongs to the ending.
# str.splitlines() must not be used on a file: it also breaks at the characters
# below, so a value holding one would become two lines on the next run.
LINE_END = "\n"

# Every character that some reader of a target format takes as the end of a
# line, record or field: CR and LF everywhere; VT and FF (str.splitlines, PCRE's
# \R); FS, GS, RS (str.splitlines); NEL, LS, PS (str.splitlines and YAML 1.1,
# which PyYAML reads). A format either encodes each of them or refuses it.
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
BREAK_NAMES = "CR, LF, VT, FF, FS, GS, RS, NEL (U+0085), LS (U+2028), PS (U+2029)"


def split_lines(text):
    """The lines of text, each with its line ending; text == "".join(split_lines(text))."""
    lines = [line + LINE_END for line in text.split(LINE_END)]
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    return lines


def has_line_break(value, encoded=""):
    """Whether value holds a line-break character that is not in encoded."""
    return any(ch in value for ch in LINE_BREAKS if ch not in encoded)


def needs_escape(ch):
    """Line breaks and the other control characters (not tab): the formats that
    have escapes (code, YAML) write these as escapes, so no value ends a line."""
    return ch in LINE_BREAKS or (ch != "\t" and (ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f))


def check_value(value, what, fmt_name, encoded=""):
    """Refuse what the format cannot carry; return the value as text.

    encoded: the characters of LINE_BREAKS that the format's writer escapes so
    that its reader gets them back; every other line break is refused.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise FormatError("%s must be a string, not %s" % (what, type(value).__name__))
    if "\x00" in value:
        raise FormatError("%s contains a NUL character, which %s cannot carry; no file was changed" % (what, fmt_name))
    if has_line_break(value, encoded):
        raise FormatError(
            "%s contains a line break or record separator, which %s cannot carry; no file was "
            "changed. Choose a value without any of %s." % (what, fmt_name, BREAK_NAMES))
    return value


def refuse_edge_space(value, what, fmt_name):
    if isinstance(value, str) and value != value.strip():
        raise FormatError(
            "%s starts or ends with whitespace, which %s strips when reading; "
            "no file was changed. Use a value without surrounding spaces." % (what, fmt_name))


class Entry(object):
    __slots__ = ("text", "key", "secret", "own")

    def __init__(self, text, key=None, secret=False, own=False):
        self.text = text
        self.key = key
        self.secret = secret
        self.own = own  # inside the block this run writes (msmtp: our account)


class LineFormat(object):
    """Base of line-based formats. Subclasses override the hooks."""

    name = "line"
    comment = "#"

    def key_of(self, line):
        return None

    def continues(self, prev, line):
        return False

    def render(self, key, value, what):
        raise NotImplementedError

    def block_bounds(self, entries, block):
        """(start, end) entry indices of the block's body; None if absent."""
        return 0, len(entries)

    def new_block(self, block):
        """(header lines, footer lines) for a block that does not exist yet."""
        return [], []

    def marker_index(self, entries):
        return 0

    def marker_line(self, marker_text):
        return "%s %s" % (self.comment, marker_text)

    def mask(self, key, fp):
        return self.render(key, fp, "fingerprint")

    def foreign_secret(self, entry):
        """Whether a line this run does not write may hold a secret; its diff shows a fingerprint."""
        return any(secret_line(line) for line in split_lines(entry.text))

    def mask_foreign(self, entry, fp_key):
        return mask_line(entry.text, fp_key)


def to_entries(fmt, text):
    lines = split_lines(text)
    entries = []
    for line in lines:
        if entries and fmt.continues(entries[-1].text, line):
            entries[-1].text += line
            continue
        entries.append(Entry(line))
    return entries


def _eol(text):
    if text.endswith("\r\n"):
        return "\r\n"
    return "\n"


class MergeResult(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)


def merge(fmt, text, assignments, block=None, marker_text=None, fp_key=None):
    """Merge owned assignments [(key, value|DELETE, secret, what)] into text.

    Returns a MergeResult with the new text, whether a secret line changed,
    whether anything besides the marker changed, and masked before/after texts.
    """
    text = text or ""
    entries = to_entries(fmt, text)
    nl = "\r\n" if "\r\n" in text and "\n" not in text.replace("\r\n", "") else "\n"
    rendered = []
    for key, value, secret, what in assignments:
        if value is DELETE:
            rendered.append((key, DELETE, secret))
        else:
            rendered.append((key, fmt.render(key, value, what) + nl, secret))
    secret_keys = set(key for key, _value, secret, _what in assignments if secret)

    bounds = fmt.block_bounds(entries, block)
    if bounds is not None:
        start, end = bounds
        for i in range(start, end):
            entries[i].key = fmt.key_of(entries[i].text)
            entries[i].secret = entries[i].key in secret_keys
            entries[i].own = True
    before_masked = _masked(fmt, entries, fp_key)
    old_secret = {}
    if bounds is not None:
        for e in reversed(entries[start:end]):
            if e.secret:
                old_secret[e.key] = e.text
    else:
        header, footer = fmt.new_block(block)
        if entries and not entries[-1].text.endswith("\n"):
            entries[-1].text += nl
        if entries and entries[-1].text.strip() and header:
            entries.append(Entry(nl))
        for h in header:
            entries.append(Entry(h + nl))
        start = end = len(entries)
        for f in footer:
            entries.append(Entry(f + nl))

    for key, line, secret in rendered:
        idxs = [i for i in range(start, end) if entries[i].key == key]
        if line is DELETE:
            keep = []
        elif idxs:
            entries[idxs[0]] = Entry(line, key, secret, own=True)
            keep = [idxs[0]]
        else:
            ins = start
            for i in range(end - 1, start - 1, -1):
                if entries[i].text.strip():
                    ins = i + 1
                    break
            if ins > 0 and not entries[ins - 1].text.endswith("\n"):
                entries[ins - 1].text += nl
            entries.insert(ins, Entry(line, key, secret, own=True))
            end += 1
            keep = [ins]
        for i in reversed(idxs):
            if i not in keep:
                del entries[i]
                end -= 1

    old_marker = None
    if marker_text is not None:
        mline = fmt.marker_line(marker_text) + nl
        found = [i for i, e in enumerate(entries) if _marker.is_marker_line(e.text, fmt.comment)]
        if found:
            old_marker = entries[found[0]].text
            entries[found[0]] = Entry(mline)
            for i in reversed(found[1:]):
                del entries[i]
        else:
            idx = fmt.marker_index(entries)
            if idx > 0 and not entries[idx - 1].text.endswith("\n"):
                entries[idx - 1].text += nl
            entries.insert(idx, Entry(mline))
    new_text = "".join(e.text for e in entries)
    new_secret = dict((e.key, e.text) for e in entries if e.secret)
    secret_changed = any(old_secret.get(k) != new_secret.get(k) for k in secret_keys)
    strip = _strip_marker(fmt)
    return MergeResult(
        text=new_text,
        changed=new_text != text,
        content_changed=strip(new_text) != strip(text),
        secret_changed=secret_changed,
        before_masked=before_masked,
        after_masked=_masked(fmt, entries, fp_key),
        deployed=_marker.parse(old_marker or ""),
    )


def _strip_marker(fmt):
    def strip(t):
        return "".join(l for l in split_lines(t) if not _marker.is_marker_line(l, fmt.comment))
    return strip


def _masked(fmt, entries, fp_key):
    """The text with every line that holds or may hold a secret replaced by a fingerprint line.

    Our own secret lines keep the format's look (`password "fingerprint:..."`);
    any other line that may hold one, ours or not, keeps its name and shows a
    fingerprint of the whole line, so a diff still tells whether it changed.
    """
    out = []
    for e in entries:
        if e.secret:
            out.append(fmt.mask(e.key, fingerprint(fp_key, e.text.rstrip("\r\n"))) + "\n")
        elif fmt.foreign_secret(e):
            out.append(fmt.mask_foreign(e, fp_key))
        else:
            out.append(e.text)
    return "".join(out)


SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*\Z")


def check_key(key, pattern, fmt_name):
    if not isinstance(key, str) or not pattern.match(key):
        raise FormatError("key %r is not a valid %s key name" % (key, fmt_name))
    return key
