#!/usr/bin/env bash
# `make demo`: start a lab fleet, run the collection's main job on it, print the result, tear down.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
HOSTS=${DEMO_HOSTS:-5}
echo "mailops.smtp demo: a simulated fleet of $HOSTS hosts checks its own view of smtp.office365.com"
echo "(DNS, and whether 587 and 465 connect), against lab stand-ins; nothing leaves this machine."
echo
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections ANSIBLE_NOCOLOR=1
trap '.venv/bin/python -m tests.lab down >/dev/null || echo "demo: lab teardown failed" >&2' EXIT
.venv/bin/python -m tests.lab up --hosts "$HOSTS" || exit 1
set -a
# shellcheck source=/dev/null
. .lab/env
set +a
.lab/ctl-exec .venv/bin/ansible-playbook tests/lab/playbooks/smoke.yml
