# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""YAML merge on the controller with ruamel.yaml round-trip mode (comments kept).

Internal use only. The finished text goes to the module's atomic writer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io

from ansible.errors import AnsibleError

from ansible_collections.mailops.smtp.plugins.module_utils import _marker
from ansible_collections.mailops.smtp.plugins.module_utils._formats_common import DELETE, needs_escape, split_lines
from ansible_collections.mailops.smtp.plugins.module_utils._mask import fingerprint, mask_tree

try:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString
    HAS_RUAMEL = True
except ImportError:  # pragma: no cover - a controller without the requirement
    HAS_RUAMEL = False


def _yaml():
    if not HAS_RUAMEL:
        raise AnsibleError("format yaml needs ruamel.yaml on the controller: pip install ruamel.yaml")
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    return y


def _load(y, text, path):
    if not text or not text.strip():
        return CommentedMap()
    try:
        data = y.load(text)
    except Exception as e:
        raise AnsibleError("%s is not valid YAML (%s); fix it first" % (path, e.__class__.__name__))
    if data is None:
        return CommentedMap()
    if not isinstance(data, dict):
        raise AnsibleError("%s holds a YAML %s, not a mapping" % (path, type(data).__name__))
    return data


def _dump(y, data):
    buf = io.StringIO()
    try:
        y.dump(data, buf)
    except Exception as e:
        # ruamel quotes the offending object in its message; that may be the secret.
        raise AnsibleError("the YAML file could not be written (%s)" % e.__class__.__name__)
    return buf.getvalue()


def plain(value):
    """Plain Python types: Ansible's tagged strings are not representable by ruamel."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
        if any(needs_escape(ch) for ch in value):
            # ruamel writes NEL, LS and PS as they are in plain or single-quoted
            # style, where PyYAML (YAML 1.1) reads them as line breaks; double
            # quotes escape every line break and control character.
            return DoubleQuotedScalarString(value)
    return value


def _walk(data, parts, create):
    cur = data
    for p in parts[:-1]:
        if p not in cur:
            if not create:
                return None
            cur[p] = CommentedMap()
        if not isinstance(cur[p], dict):
            raise AnsibleError("%s is not a mapping, so %s cannot be set below it" % (p, ".".join(parts)))
        cur = cur[p]
    return cur


def merge(text, assignments, credential, fp_key, path, method=None):
    """Return dict(content, changed, secret_changed, before, after, deployed).

    method: the way the file makes its application send, for the marker (_marker.auth_method)."""
    y = _yaml()
    old = text or ""
    deployed = _marker.parse(old)
    body = _strip(old)
    data = _load(y, body, path)
    before_mask = _load(y, body, path)
    secret_paths = []
    for key, value, secret in assignments:
        parts = key.split(".")
        if not key or any(p == "" for p in parts):
            raise AnsibleError("key %r is not a dotted path such as smtp.password" % (key,))
        if isinstance(value, str) and "\x00" in value:
            raise AnsibleError("the value of %s contains a NUL character, which YAML cannot carry; no file was changed" % key)
        if value is DELETE:
            parent = _walk(data, parts, False)
            if parent is not None:
                parent.pop(parts[-1], None)
        else:
            _walk(data, parts, True)[parts[-1]] = plain(value)
        if secret:
            secret_paths.append(parts)
    # The marker is handled as text: ruamel keeps the rest of the comments.
    new = "# %s\n" % _marker.text(credential, method) + _dump(y, data)

    def masked(doc):
        for parts in secret_paths:
            parent = _walk(doc, parts, False)
            if parent is not None and parts[-1] in parent:
                parent[parts[-1]] = fingerprint(fp_key, repr(parent[parts[-1]]))
        # Every other key whose name suggests a secret, ours or not.
        mask_tree(doc, fp_key)
        return _dump(y, doc) if doc or old else ""

    secret_changed = False
    for parts in secret_paths:
        a = _walk(before_mask, parts, False)
        b = _walk(data, parts, False)
        va = a.get(parts[-1]) if a is not None else None
        vb = b.get(parts[-1]) if b is not None else None
        secret_changed = secret_changed or va != vb
    after_doc = _load(y, _strip(new), path)
    return dict(content=new, changed=new != old, secret_changed=secret_changed,
                before=masked(before_mask) if old else "", after=masked(after_doc), deployed=deployed)


def _strip(t):
    return "".join(l for l in split_lines(t) if not _marker.is_marker_line(l, "#"))
