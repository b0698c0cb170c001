#!/usr/bin/env bash
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# `make demo`: a simulated fleet checks, before a mail migration, that it can submit mail to
# Microsoft 365; prints the fleet summary and where the report is; tears the lab down.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
REPORT_DIR=$ROOT/mailops-smtp-report
echo "mailops.smtp demo: a fleet of 5 lab hosts is readied for Microsoft 365 (smtp.office365.com)."
echo " 1. configure: Postfix and msmtp on every host get the SMTP settings, with the credential fetched"
echo "    once from OpenBao, after a preflight probe from each host; a real message then goes through Postfix."
echo " 2. validate: every host checks DNS, TCP, banner, EHLO, STARTTLS, certificate, AUTH, XOAUTH2"
echo "    readiness and the connector path (port 25 to the tenant's MX host); the fleet report is written."
echo "host2's firewall drops 587 and host3 sits behind 50 ms of latency. Everything runs against lab"
echo "stand-ins in network namespaces on this machine; nothing leaves it."
echo
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections ANSIBLE_NOCOLOR=1
trap '.venv/bin/python -m tests.lab down >/dev/null || echo "demo: lab teardown failed" >&2' EXIT
lab() { .venv/bin/python -m tests.lab "$@"; }
lab up --hosts 5 || exit 1
.lab/ctl-exec .venv/bin/python -m tests.lab seed-vault >/dev/null || exit 1
lab firewall host2 587 drop && lab latency host3 50 || exit 1
set -a
# shellcheck source=/dev/null
. .lab/env
set +a
echo
echo "== ansible-playbook mailops.smtp.configure"
.lab/ctl-exec .venv/bin/ansible-playbook mailops.smtp.configure -e @.lab/vars.yml -e @tests/lab/demo/fleet-vars.yml \
  > .lab/demo-configure.log 2>&1
crc=$?
sed -n '/PLAY RECAP/,$p' .lab/demo-configure.log | grep -E '^host'
# A host whose preflight failed keeps its files; the role says why.
grep -E '^fatal: \[host[0-9]+\]' .lab/demo-configure.log | sed -E 's/^fatal: \[([^]]+)\].*"msg": "([^"]{0,300}).*/  \1 left untouched: \2/'
[ $crc -le 2 ] || { echo "demo: configure failed unexpectedly (exit $crc):"; tail -40 .lab/demo-configure.log; exit $crc; }
subject="demo $(date +%s)"
.venv/bin/python -m tests.lab exec host1 -- sh -c "printf 'Subject: $subject\n\nHello from host1\n' | sendmail ops@contoso.com"
.lab/ctl-exec .venv/bin/python - "$subject" <<'PY' || exit 1
import json, sys, time
from pathlib import Path
from tests.lab.standins.control import StandinControl
state = json.loads(Path(".lab/lab.json").read_text())
control = StandinControl(state["standins"]["control_socket"])
for _ in range(120):
    got = [m for m in control.messages() if any(v == sys.argv[1] for k, v in m["headers"] if k.lower() == "subject")]
    if got:
        m = got[0]
        print(f"  host1's Postfix delivered \"{sys.argv[1]}\" to the Microsoft 365 stand-in: from {m['envelope_from']}, "
              f"authenticated as {m['auth_identity']} with {m['auth_mechanism']}")
        sys.exit(0)
    time.sleep(0.5)
sys.exit("demo: host1's message did not reach the stand-in within 60 s")
PY
echo
echo "== ansible-playbook mailops.smtp.validate"
.lab/ctl-exec .venv/bin/ansible-playbook mailops.smtp.validate -e @.lab/vars.yml -e @tests/lab/demo/fleet-vars.yml \
  -e smtp_validate_report_dir="$REPORT_DIR" -e smtp_validate_max_fail_percentage=20 > .lab/demo-validate.log 2>&1
rc=$?
# The summary table the role prints, without Ansible's JSON framing.
sed -n '/Show the fleet summary/,/^$/p' .lab/demo-validate.log | grep -E '^ +"' | grep -v '"msg"' | sed -E 's/^ +"(.*)",?$/\1/'
grep -E '^(host[0-9]+|PLAY RECAP)' .lab/demo-validate.log | tail -6
echo
echo "\"app without OAuth\": Postfix on Debian 12 cannot do XOAUTH2, so once basic auth is retired these"
echo "hosts need the connector path (postfix preset, options.mode: connector; see docs/configure.md);"
echo "the report's \"Connector path\" column says whether port 25 to the tenant's MX host is open."
echo "The fleet report: $REPORT_DIR/report.html (also report.json, report.junit.xml, report.md)"
[ $rc -eq 0 ] || { echo "demo: the validate playbook failed (exit $rc); its log:"; cat .lab/demo-validate.log; exit $rc; }
