# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stands in for ansible-test's downloaded get-pip.py bootstrap script.

ansible-test fetches get-pip.py from a host this machine must not (and cannot)
reach. tests/run_all.sh puts this file in ansible-test's cache under the name it
looks for, so the bootstrap uses the interpreter's bundled pip (ensurepip) and
then installs the requested pip version from the configured package index.
"""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null for itself; the real install
# needs the machine's pip settings (index, certificates) back.
env = dict(os.environ)
env.pop("PIP_CONFIG_FILE", None)
# get-pip.py's own flags mean nothing to pip install.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
