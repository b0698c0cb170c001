# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The settings engine's command runner for tests that call the engine in-process.

On a host the engine runs commands through the module's run_command; in-process
there is no module, so tests pass this one: bounded, so a stuck command cannot
hang the run.
"""

from __future__ import annotations

import subprocess


def run_local(argv, timeout=120):
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except OSError as e:
        return 127, "", "%s: %s" % (argv[0], e.strerror)
    except subprocess.TimeoutExpired:
        return 124, "", "%s timed out after %ds" % (argv[0], timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
