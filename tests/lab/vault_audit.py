# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab OpenBao's audit log, read by tests and benchmarks to count and time the requests a run made."""

from __future__ import annotations

import json
from collections.abc import Iterator


def audit_entries(log_path, offset: int = 0) -> Iterator[dict]:
    """Every complete JSON entry of the audit log after byte offset; a line still being written is skipped."""
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        for line in fh:
            try:
                yield json.loads(line)
            except ValueError:
                continue
