#!/usr/bin/env bash
# `make demo`: a simulated fleet checks, before a mail migration, that it can submit mail to
# Microsoft 365; prints the fleet summary and where the report is; tears the lab down.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
REPORT_DIR=$ROOT/mailops-smtp-report
echo "mailops.smtp demo: 5 lab hosts validate their way to smtp.office365.com (DNS, TCP, banner, EHLO,"
echo "STARTTLS, certificate, AUTH with a credential fetched once from OpenBao, XOAUTH2 readiness)."
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
echo "== ansible-playbook mailops.smtp.validate"
.lab/ctl-exec .venv/bin/ansible-playbook mailops.smtp.validate -e @.lab/vars.yml \
  -e smtp_validate_report_dir="$REPORT_DIR" -e smtp_validate_max_fail_percentage=20 > .lab/demo-validate.log 2>&1
rc=$?
# The summary table the role prints, without Ansible's JSON framing.
sed -n '/Show the fleet summary/,/^$/p' .lab/demo-validate.log | grep -E '^ +"' | grep -v '"msg"' | sed -E 's/^ +"(.*)",?$/\1/'
grep -E '^(host[0-9]+|PLAY RECAP)' .lab/demo-validate.log | tail -6
echo
echo "The fleet report: $REPORT_DIR/report.html (also report.json, report.junit.xml, report.md)"
[ $rc -eq 0 ] || { echo "demo: the validate playbook failed (exit $rc); its log:"; cat .lab/demo-validate.log; exit $rc; }
