#!/usr/bin/env bash
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# `make demo`: the retirement of basic auth end to end, on a simulated fleet: the fleet on basic auth, validate
# says it is not ready, basic auth is switched off at the Microsoft 365 stand-in and the applications
# fail with 550 5.7.30, `mailops.smtp.migrate` moves the fleet, and its report says what moved, what
# was proven and what is still blocked. Tears the lab down on every exit path.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
REPORT_DIR=$ROOT/mailops-smtp-report
VARS=tests/lab/demo/retirement-vars.yml
echo "mailops.smtp demo: the retirement of basic auth for SMTP AUTH, on a fleet of 4 lab hosts."
echo "  host1: Postfix and msmtp   host2: Grafana and Django   host3: msmtp   host4: msmtp, behind a"
echo "  firewall that drops its outbound 587, 443 and 25. All of them start on basic auth (a password"
echo "  from OpenBao). Everything runs against stand-ins in network namespaces on this machine."
echo
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections ANSIBLE_NOCOLOR=1
trap '.venv/bin/python -m tests.lab down >/dev/null || echo "demo: lab teardown failed" >&2' EXIT
lab() { .venv/bin/python -m tests.lab "$@"; }
on() { local h=$1; shift; lab exec "$h" -- sh -c "$*"; }
# The fleet's variables are the inventory's group_vars/all, as an operator's are: given as extra vars
# (-e), they would override the variables migrate hands to the roles it runs.
playbook() { .lab/ctl-exec .venv/bin/ansible-playbook -i .lab/demo-inventory "$@" -e @.lab/vars.yml; }
# The time of each step, so that a slow run says where its time went.
T0=$SECONDS
STEP_START=$SECONDS
step() { echo; echo "== $1"; STEP_START=$SECONDS; }
took() { echo "   ($((SECONDS - STEP_START)) s)"; }

step "the lab: 4 hosts, the Microsoft 365 stand-ins, OpenBao with the basic and the oauth2 credential"
lab up --hosts 4 >/dev/null || exit 1
.lab/ctl-exec .venv/bin/python -m tests.lab seed-vault >/dev/null || exit 1
# What the applications' packages would have created: Grafana's ini and Django's project directory.
on host2 'mkdir -p /etc/grafana /srv/portal/portal && printf "[server]\nhttp_port = 3000\n" > /etc/grafana/grafana.ini' \
  || exit 1
mkdir -p .lab/demo-inventory/group_vars && ln -sf ../inventory.yml .lab/demo-inventory/hosts.yml \
  && ln -sf "$ROOT/$VARS" .lab/demo-inventory/group_vars/all.yml || exit 1
set -a
# shellcheck source=/dev/null
. .lab/env
set +a
took

step "ansible-playbook mailops.smtp.configure: the fleet on basic auth, as it is today"
playbook mailops.smtp.configure > .lab/demo-configure.log 2>&1 \
  || { echo "demo: configure failed; its log:"; tail -40 .lab/demo-configure.log; exit 1; }
grep -E '^host[0-9]+ ' .lab/demo-configure.log
for port in 587 443 25; do lab firewall host4 "$port" drop || exit 1; done
echo "host4's firewall now drops its outbound 587 (SMTP), 443 (the token endpoint) and 25 (the connector)."
took

step "ansible-playbook mailops.smtp.validate: is the fleet ready for the retirement?"
playbook mailops.smtp.validate -e smtp_validate_report_dir="$REPORT_DIR/validate" > .lab/demo-validate.log 2>&1
vrc=$?
[ -s "$REPORT_DIR/validate/report.json" ] \
  || { echo "demo: validate wrote no report (exit $vrc); its log:"; tail -40 .lab/demo-validate.log; exit 1; }
# The readiness of each host and application, from the report.
jq -r '.hosts[] | "  \(.host): ready \(.readiness.ready) (\(.readiness.status))",
  (.readiness.apps[] | "    \(.name): \(.path_label), observed \(.observed.method) (from the \(.observed.source)), survives the retirement: \(.survives_retirement)"),
  (.readiness.reasons[] | select(.code != "app_holds_password") | "    \(.code): \(.text)")' \
  "$REPORT_DIR/validate/report.json"
jq -e '[.hosts[].readiness.ready] | any | not' "$REPORT_DIR/validate/report.json" >/dev/null \
  || { echo "demo: validate found a host ready on basic auth"; exit 1; }
took

step "Microsoft switches basic auth off (the stand-in answers 550 5.7.30 to every password)"
.lab/ctl-exec .venv/bin/python - <<'PY' || exit 1
import json
from pathlib import Path
from tests.lab.standins.control import StandinControl
state = json.loads(Path(".lab/lab.json").read_text())
StandinControl(state["standins"]["control_socket"]).set_mailbox(state["standins"]["mailbox"], basic_auth_retired=True)
PY
echo "host1$ msmtp -a mailops ops@contoso.com"
on host1 "printf 'Subject: demo after the retirement\n\nmsmtp\n' | msmtp -a mailops ops@contoso.com" 2>&1 | sed 's/^/  /'
[ "${PIPESTATUS[0]}" -ne 0 ] || { echo "demo: msmtp still sent with a password"; exit 1; }
echo "host1$ sendmail ops@contoso.com   (Postfix)"
on host1 "printf 'Subject: demo after the retirement\n\nPostfix\n' | sendmail ops@contoso.com" || exit 1
for _ in $(seq 40); do
  line=$(on host1 "grep -h 'dsn=[45].7.30' /var/log/postfix.log | tail -1")
  [ -n "$line" ] && break
  sleep 0.5
done
[ -n "$line" ] || { echo "demo: Postfix logged no 5.7.30 within 20 s"; exit 1; }
echo "  $line" | sed -E 's/^  (\S+ \S+ \S+) \S+ (postfix\/smtp)\[[0-9]+\]: /  \2: /'
took

step "ansible-playbook mailops.smtp.migrate: move, prove each application with a real message, report"
playbook mailops.smtp.migrate -e smtp_migrate_report_dir="$REPORT_DIR" > .lab/demo-migrate.log 2>&1
mrc=$?
[ -s "$REPORT_DIR/migration.json" ] \
  || { echo "demo: migrate wrote no report (exit $mrc); its log:"; tail -60 .lab/demo-migrate.log; exit 1; }
grep -E '^host[0-9]+ ' .lab/demo-migrate.log
echo "(ansible-playbook exit $mrc: a host that did not move fails the run)"
# Every host but the firewalled one moved; the firewalled one was put back as it was.
jq -e '([.hosts[] | select(.host != "host4") | .status | IN("moved", "unchanged")] | all)
  and ([.hosts[] | select(.host == "host4") | .status | IN("moved", "unchanged")] == [false])' \
  "$REPORT_DIR/migration.json" >/dev/null \
  || { echo "demo: unexpected migration result; the report and the log:"; cat "$REPORT_DIR/migration.md";
       tail -60 .lab/demo-migrate.log; exit 1; }
took

step "the report, $REPORT_DIR/migration.md"
sed -n '2,$p' "$REPORT_DIR/migration.md"
echo
echo "host1$ msmtp -a mailops ops@contoso.com   (now with XOAUTH2)"
on host1 "printf 'Subject: demo after the migration\n\nmsmtp\n' | msmtp -a mailops ops@contoso.com" \
  || { echo "demo: msmtp on host1 cannot send after the migration"; exit 1; }
echo "  sent"
took

echo
echo "The demo took $((SECONDS - T0)) s. Reports: $REPORT_DIR/migration.md (and migration.json, before/, after/),"
echo "validate's: $REPORT_DIR/validate/report.html."
