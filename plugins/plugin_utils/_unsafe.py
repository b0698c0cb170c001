# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: mark values from Vault so that Jinja never evaluates them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    # ansible-core 2.19 and 2.21 both ship wrap_var; from 2.19 on data is
    # untrusted by default, and wrap_var keeps that true for older habits too.
    from ansible.utils.unsafe_proxy import wrap_var as _wrap_var
except ImportError:  # pragma: no cover - a future core without the shim
    _wrap_var = None


def mark_unsafe(value):
    """Return value (recursively) marked as not to be templated."""
    if _wrap_var is None:
        return value
    return _wrap_var(value)
