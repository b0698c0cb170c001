# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON settings: owned keys set by dotted path, every other key and value kept.

Internal use only. JSON has no comments; the drift marker lives in a sidecar.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re
from collections import OrderedDict

from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import (
    DELETE, LINE_BREAKS, FormatError, MergeResult, check_value)
from ansible_collections.mailops.smtp.plugins.module_utils._mask import fingerprint, mask_tree


def split_path(key):
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise FormatError("key %r is not a dotted path such as smtp.password" % (key,))
    return parts


def _indent(text):
    m = re.search(r"\n([ \t]+)\S", text)
    return len(m.group(1)) if m and "\t" not in m.group(1) else 2


def load(text, path):
    if not text or not text.strip():
        return OrderedDict()
    try:
        data = json.loads(text, object_pairs_hook=OrderedDict)
    except ValueError as e:
        raise FormatError("%s is not valid JSON (%s); fix or remove it first" % (path, e.__class__.__name__))
    if not isinstance(data, dict):
        raise FormatError("%s holds a JSON %s, not an object; settings cannot be merged into it"
                          % (path, type(data).__name__))
    return data


def _get(data, parts):
    cur = data
    for p in parts:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _set(data, parts, value, path):
    cur = data
    for p in parts[:-1]:
        if p not in cur:
            cur[p] = OrderedDict()
        elif not isinstance(cur[p], dict):
            raise FormatError("%s: %s is not an object, so %s cannot be set below it"
                              % (path, p, ".".join(parts)))
        cur = cur[p]
    if value is DELETE:
        cur.pop(parts[-1], None)
    else:
        cur[parts[-1]] = value


# json.dumps escapes the C0 controls (CR, LF, VT, FF, FS, GS, RS) but writes these
# as they are; outside strings JSON has no such characters, so escaping them in
# the text is safe and keeps every line of the file a line for any reader.
_UNESCAPED_BREAKS = dict((ch, "\\u%04x" % ord(ch)) for ch in LINE_BREAKS if ord(ch) > 0x7f)


def dump(data, indent):
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    for ch, esc in _UNESCAPED_BREAKS.items():
        text = text.replace(ch, esc)
    return text + "\n"


def merge(text, assignments, path, fp_key):
    """Merge [(key, value|DELETE, secret, what)] into JSON text."""
    text = text or ""
    data = load(text, path)
    before = copy.deepcopy(data)
    indent = _indent(text)
    secret_paths = []
    for key, value, secret, what in assignments:
        parts = split_path(key)
        if value is not DELETE:
            # JSON escapes every line break, but NUL is refused everywhere for one rule.
            check_value(value, what, "JSON", encoded=LINE_BREAKS)
        if secret:
            secret_paths.append(parts)
        _set(data, parts, value, path)
    new_text = text if data == before else dump(data, indent)

    def masked(d):
        d = copy.deepcopy(d)
        for parts in secret_paths:
            v = _get(d, parts)
            if v is not None:
                _set(d, parts, fingerprint(fp_key, json.dumps(v)), path)
        # Every other key whose name suggests a secret, ours or not.
        return dump(mask_tree(d, fp_key), indent)

    return MergeResult(
        text=new_text,
        changed=new_text != text,
        content_changed=new_text != text,
        secret_changed=any(_get(before, p) != _get(data, p) for p in secret_paths),
        before_masked=masked(before) if text.strip() else "",
        after_masked=masked(data),
        deployed=None,
    )
