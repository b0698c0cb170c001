# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback: append every task result, as the callbacks see it, to a JSON-lines file.

Used by tests/security to prove that no secret reaches any callback. Enabled with
ANSIBLE_CALLBACKS_ENABLED=result_dump and ANSIBLE_CALLBACK_PLUGINS pointing here;
the file is MAILOPS_RESULT_DUMP.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: result_dump
type: aggregate
short_description: Append every task result as JSON to the file named by MAILOPS_RESULT_DUMP
description: Test-only; tests/security scans the file for marker secrets.
author: mailops.smtp maintainers
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_dump"
    CALLBACK_NEEDS_ENABLED = True

    def _dump(self, status, result):
        path = os.environ.get("MAILOPS_RESULT_DUMP")
        if not path:
            return
        record = {"status": status, "host": result._host.get_name(), "task": result._task.get_name(),
                  "result": result._result}
        with open(path, "a") as fh:
            # default=repr: an object the encoder does not know is still dumped, never dropped.
            fh.write(json.dumps(record, default=repr) + "\n")

    def v2_runner_on_ok(self, result):
        self._dump("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._dump("failed", result)

    def v2_runner_on_skipped(self, result):
        self._dump("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._dump("unreachable", result)

    def v2_runner_item_on_ok(self, result):
        self._dump("item_ok", result)

    def v2_runner_item_on_failed(self, result):
        self._dump("item_failed", result)

    def v2_runner_item_on_skipped(self, result):
        self._dump("item_skipped", result)

    def v2_runner_retry(self, result):
        self._dump("retry", result)

    def v2_on_file_diff(self, result):
        self._dump("diff", result)
