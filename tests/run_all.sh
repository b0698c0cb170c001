#!/usr/bin/env bash
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# Run the test suites; each prints its duration, and the run fails loudly if any
# suite fails or runs no test (pytest's exit 5 included).
#   bash tests/run_all.sh                 every suite (what `make test` runs)
#   bash tests/run_all.sh units sanity    only those
# The suites that need no lab (STATIC) run one after the other in the background
# while the lab suites run one after the other in the foreground: the lab suites
# spend most of their time waiting on hosts and timers and leave a core idle
# (docs/performance.md, "Test-suite time"). The background suites' output goes to
# .build/test-logs/ and is printed whole at the end. MAILOPS_TEST_SERIAL=1 runs
# everything in the foreground, in the order of ALL.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
VENV=$ROOT/.venv
VENV219=$ROOT/.venv-219
VENV220=$ROOT/.venv-220
IMPORTER=$ROOT/.venv-importer
TOOLS=$ROOT/.venv-tools
LABDIR=$ROOT/.lab
LAB_HOSTS=${LAB_HOSTS:-10}
export PYTHONDONTWRITEBYTECODE=1
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections
export ANSIBLE_NOCOLOR=1
export PATH=$VENV/bin:$PATH
ALL=(lint galaxy sanity sanity-220 compat-sanity units lab-lifecycle integration security molecule compat)
STATIC=(lint galaxy sanity sanity-220 compat-sanity units)
LOGS=$ROOT/.build/test-logs
SUITES=("$@")
[ ${#SUITES[@]} -eq 0 ] && SUITES=("${ALL[@]}")
[ "${SUITES[0]}" = compat ] && [ $# -eq 1 ] && SUITES=(compat-sanity compat)

results=()
failed=0
run_suite() {  # name, command...
  local name=$1; shift
  local t0=$SECONDS
  echo "=== suite $name: start"
  "$@"
  local rc=$?
  local dt=$((SECONDS - t0))
  if [ $rc -eq 0 ]; then
    results+=("$name: passed in ${dt}s")
  else
    [ $rc -eq 5 ] && echo "suite $name ran no test: that is a failure"
    results+=("$name: FAILED (exit $rc) in ${dt}s")
    failed=1
  fi
  echo "=== suite $name: exit $rc after ${dt}s"
}

# ansible-test wants the collection at .../ansible_collections/mailops/smtp; copy
# the files git knows (tracked, or untracked and not ignored) there.
stage_collection() {
  local dest=$ROOT/.build/sanity/ansible_collections/mailops/smtp
  rm -rf "$ROOT/.build/sanity"
  mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | xargs -0 cp --parents -t "$dest"
  # A repository of its own: ansible-test lists files through git, and the
  # enclosing checkout ignores .build/.
  (cd "$dest" && git init -q && git add -A) >&2
  echo "$dest"
}

# ansible-test looks python3.X up on PATH; pyenv's shims confuse it.
pybin() {
  local d=$ROOT/.build/pybin
  mkdir -p "$d"
  for v in 3.8 3.9 3.10 3.11 3.12 3.13; do
    local p; p=$(find /root/.pyenv/versions -maxdepth 3 -path "*/$v.*/bin/python$v" 2>/dev/null | sort -V | tail -1)
    [ -n "$p" ] && ln -sfn "$p" "$d/python$v"
  done
  echo "$d"
}

suite_lint() {
  # A HOME of its own: ansible-lint prefers a collection installed in ~/.ansible/collections (galaxy-importer
  # leaves one there), which would lint a stale copy instead of this checkout (ANSIBLE_COLLECTIONS_PATH).
  mkdir -p "$ROOT/.build/lint-home"
  HOME=$ROOT/.build/lint-home PATH="$VENV/bin:$PATH" "$VENV/bin/ansible-lint" --profile production --offline -q
}

# ansible-test runs pip with a filtered environment (PIP_* variables dropped) and
# would download its pip bootstrap script from the internet. Give it a HOME of
# its own: a pip.conf carrying this machine's PIP_* settings, and our bootstrap
# (tests/setup/get_pip_local.py) already in its cache.
test_home() {
  local home=$ROOT/.build/ansible-test-home venv=$1
  mkdir -p "$home/.config/pip" "$home/.ansible/test/cache"
  "$VENV/bin/python" - "$home/.config/pip/pip.conf" <<'PY'
import os, sys
lines = ["[global]"] + [f"{k[4:].lower().replace('_', '-')} = {v}"
                        for k, v in sorted(os.environ.items()) if k.startswith("PIP_")]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
  for ver in $(grep -ho "pip='[0-9.]*'" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | tr -dc '0-9.\n'); do
    cp tests/setup/get_pip_local.py "$home/.ansible/test/cache/get_pip_${ver//./_}.py"
  done
  echo "$home"
}

# Sanity on the source tree (the tarball leaves tests/ out), with every ansible-core
# the collection supports, each on every target Python this machine has (pybin):
# without --python, ansible-test runs compile and import once per Python it finds.
sanity_with() {  # venv, extra ansible-test arguments...
  local venv=$1; shift
  local dest home; dest=$(stage_collection); home=$(test_home "$venv")
  (cd "$dest" && HOME=$home PATH="$(pybin):$venv/bin:/usr/local/bin:/usr/bin:/bin" "$venv/bin/ansible-test" sanity \
     --local --color no "$@")
}

suite_sanity() {
  sanity_with "$VENV"
}

suite_sanity_220() {
  sanity_with "$VENV220"
}

suite_compat_sanity() {
  sanity_with "$VENV219"
}

# The release notes the next release would get: every role is listed (from its main
# entry point's version_added), beside the modules and plugins.
trial_release() {  # dir holding collections/
  # Outside the checkout, with galaxy.yml beside it: antsibull-changelog looks for the
  # collection root upwards, and would release (and delete the fragments of) the checkout.
  local tmp version role rc=0
  tmp=$(mktemp -d /tmp/mailops-trial-release.XXXXXX)
  local trial=$tmp/ansible_collections/mailops/smtp
  if ! { mkdir -p "$(dirname "$trial")" && cp -r "$1/collections/ansible_collections/mailops/smtp" "$trial" \
          && cp galaxy.yml "$trial/"; }; then
    rm -rf "$tmp"; return 1
  fi
  version=$("$VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' galaxy.yml)
  if (cd "$trial" && PATH="$TOOLS/bin:$PATH" ANSIBLE_COLLECTIONS_PATH=$tmp "$TOOLS/bin/antsibull-changelog" release \
        --version "$version" >/dev/null 2>&1) && [ -f "$trial/CHANGELOG.rst" ]; then
    for role in roles/*/; do
      role=$(basename "$role")
      sed -n '/^New Roles/,$p' "$trial/CHANGELOG.rst" | grep -q "^- $role - " \
        || { echo "the trial release notes do not list the role $role"; rc=1; }
    done
  else
    echo "antsibull-changelog release of a copy failed"; rc=1
  fi
  [ $rc -eq 0 ] && echo "trial release $version: every role listed"
  rm -rf "$tmp"
  return $rc
}

# What Galaxy and Automation Hub check on an uploaded tarball, on the tarball we build:
# galaxy-importer (its ansible-test step off, tests/setup/galaxy-importer.cfg), the docs
# lint, the changelog lint, and the REUSE licence lint (of the tarball and the source tree).
suite_galaxy() {
  local out=$ROOT/.build/release rc=0
  rm -rf "$out" && mkdir -p "$out"
  "$VENV/bin/ansible-galaxy" collection build --force --output-path "$out" >/dev/null || return 1
  local tarball; tarball=$(ls "$out"/mailops-smtp-*.tar.gz)
  local coll=$out/collections/ansible_collections/mailops/smtp
  mkdir -p "$coll" && tar -xzf "$tarball" -C "$coll" || return 1
  echo "--- galaxy-importer $(basename "$tarball")"
  # A HOME of its own: the importer's ansible-lint installs the collection into ~/.ansible/collections.
  mkdir -p "$out/importer-home"
  (cd "$out" && HOME=$out/importer-home GALAXY_IMPORTER_CONFIG=$ROOT/tests/setup/galaxy-importer.cfg \
     PATH="$IMPORTER/bin:$PATH" "$IMPORTER/bin/python" -m galaxy_importer.main "$tarball") > "$out/importer.log" 2>&1
  local irc=$?
  # The importer exits 0 on warnings; a reviewer stops on them too.
  grep -E "^(WARNING|ERROR)" "$out/importer.log"
  if [ $irc -ne 0 ] || grep -qE "^(WARNING|ERROR)" "$out/importer.log"; then
    echo "galaxy-importer: not clean (exit $irc), see $out/importer.log"; rc=1
  else
    echo "galaxy-importer: clean"
  fi
  echo "--- antsibull-docs lint-collection-docs --plugin-docs"
  PATH="$TOOLS/bin:$PATH" ANSIBLE_COLLECTIONS_PATH=$out/collections \
    "$TOOLS/bin/antsibull-docs" lint-collection-docs --plugin-docs "$coll" || rc=1
  echo "--- antsibull-changelog lint, and a trial release of a copy"
  (cd "$coll" && "$TOOLS/bin/antsibull-changelog" lint) || rc=1
  trial_release "$out" || rc=1
  echo "--- reuse lint (tarball, then source tree)"
  "$TOOLS/bin/reuse" --root "$coll" lint --lines || rc=1
  "$TOOLS/bin/reuse" --root "$ROOT" lint --lines || rc=1
  return $rc
}

suite_units() {
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/unit
}

suite_lab_lifecycle() {
  # Its own lab (another state dir, so another prefix and subnet) beside the shared one.
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/lab_lifecycle
}

STARTED_LAB=
lab_up() {
  [ -f "$LABDIR/lab.json" ] && return 0
  STARTED_LAB=1
  "$VENV/bin/python" -m tests.lab up --hosts "$LAB_HOSTS"
}

# The integration suite runs in two shards at once, each on a lab of its own: most of
# its time is spent waiting on hosts, timers and the stand-ins' scaled clocks, not on
# the CPU. SHARD_B (the rotation suite and most of migrate's, which wait the longest) runs on a
# second lab, .lab-b (its own prefix and subnet), the rest on the main lab.
# MAILOPS_TEST_SERIAL=1 runs the whole suite on the main lab instead.
LABDIR_B=$ROOT/.lab-b
# Balanced by the times each file took on a lab: the relay suite and migrate's
# failure and lost-host tests (the longest files) run on shard A, every other migrate file on shard B.
SHARD_B=(tests/integration/rotate
         tests/integration/migrate/test_graph_send.py tests/integration/migrate/test_migrate_check.py
         tests/integration/migrate/test_migrate_fleet.py tests/integration/migrate/test_move_designated_relay.py
         tests/integration/migrate/test_move_restore.py tests/integration/migrate/test_send_proof.py
         tests/integration/migrate/test_move_gitlab_graph.py tests/integration/migrate/test_migrate_designated_relay.py
         tests/integration/migrate/test_hostile_second_runs.py)
integration_pytest() {  # lab dir, pytest arguments...
  local lab=$1 tmp; shift
  # A base for tmp_path of its own (short: some tests put sockets there), removed after.
  tmp=$(mktemp -d /tmp/mailops-it.XXXXXX) || return 1
  # The slowest steps (a module fixture's set-up counts apart from its tests) go to
  # the CI log, so the suite's growth can be traced to the tests that cause it.
  MAILOPS_LAB_STATE=$lab "$lab/ctl-exec" "$VENV/bin/python" -m pytest -q -p no:cacheprovider --basetemp "$tmp" \
    --durations=30 --durations-min=15 "$@"
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

suite_integration() {
  lab_up || return 1
  if [ -n "${MAILOPS_TEST_SERIAL:-}" ]; then
    integration_pytest "$LABDIR" tests/integration
    return
  fi
  local ignore=() p rc_a rc_b log_b=$ROOT/.build/integration-shard-b.log
  for p in "${SHARD_B[@]}"; do ignore+=(--ignore "$p"); done
  "$VENV/bin/python" -m tests.lab --state-dir "$LABDIR_B" up --hosts "$LAB_HOSTS" || return 1
  echo "--- shard B (${SHARD_B[*]}) on $LABDIR_B, output in $log_b at the end"
  integration_pytest "$LABDIR_B" "${SHARD_B[@]}" > "$log_b" 2>&1 &
  local pid_b=$!
  echo "--- shard A (the rest of tests/integration) on $LABDIR"
  integration_pytest "$LABDIR" "${ignore[@]}" tests/integration
  rc_a=$?
  wait "$pid_b"
  rc_b=$?
  echo "--- shard B, its output (exit $rc_b):"
  cat "$log_b"
  "$VENV/bin/python" -m tests.lab --state-dir "$LABDIR_B" down || rc_b=1
  echo "--- shard A exit $rc_a, shard B exit $rc_b"
  # Exit 5 (no test) from either shard fails the suite like any other failure.
  [ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ] && return 0
  [ "$rc_a" -ne 0 ] && return "$rc_a"
  return "$rc_b"
}

suite_security() {
  # Secret-leak, hostile-input and fault suites (issue 9); -s shows each suite's duration.
  lab_up || return 1
  "$LABDIR/ctl-exec" "$VENV/bin/python" -m pytest -q -s -p no:cacheprovider tests/security
}

suite_molecule() {
  # Every role's scenario, with the lab as its platform (nothing is created or destroyed).
  lab_up || return 1
  local role rc=0 found=0
  for role in roles/*/; do
    [ -f "$role/molecule/default/molecule.yml" ] || continue
    found=1
    echo "--- molecule: $role"
    # shellcheck disable=SC2016 # expanded by the inner shell, inside the lab
    (cd "$role" && MAILOPS_LAB_STATE=$LABDIR "$LABDIR/ctl-exec" /bin/sh -c \
      'set -a; . "$MAILOPS_LAB_STATE/env"; set +a; exec molecule test' ) || rc=1
  done
  [ $found -eq 1 ] || { echo "no molecule scenario found"; return 5; }
  return $rc
}

suite_compat() {
  # ansible-core 2.19 on Python 3.11, against the old-Python host on Python 3.8.
  lab_up || return 1
  # The short pass the issue asks for: the smoke test, the probe, and the installed collection.
  local paths=() p
  for p in tests/integration/test_lab_core.py tests/integration/probe tests/integration/packaging; do
    [ -e "$p" ] && paths+=("$p")
  done
  MAILOPS_LAB_INVENTORY=$LABDIR/inventory-219.yml "$LABDIR/ctl-exec" "$VENV219/bin/python" -m pytest -q \
    -p no:cacheprovider -m compat "${paths[@]}"
}

cleanup() {
  if [ -n "$STARTED_LAB" ] && [ -f "$LABDIR/lab.json" ] && [ -z "${KEEP_LAB:-}" ]; then
    "$VENV/bin/python" -m tests.lab down || failed=1
  fi
  # The second lab of the integration suite, if an interrupted run left it up.
  if [ -f "$LABDIR_B/lab.json" ]; then
    "$VENV/bin/python" -m tests.lab --state-dir "$LABDIR_B" down || failed=1
  fi
}

is_static() {
  local x; for x in "${STATIC[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1
}

for s in "${SUITES[@]}"; do
  if ! declare -F "suite_${s//-/_}" >/dev/null; then echo "unknown suite $s (have: ${ALL[*]})"; exit 2; fi
done
fore=() back=()
for s in "${SUITES[@]}"; do
  if is_static "$s"; then back+=("$s"); else fore+=("$s"); fi
done
if [ -n "${MAILOPS_TEST_SERIAL:-}" ] || [ ${#back[@]} -eq 0 ] || [ ${#fore[@]} -eq 0 ]; then
  fore=("${SUITES[@]}") back=()
fi

# The background suites, one after the other, each into its own log; their results
# and failure flag come back through files.
run_background() {
  local s
  trap - EXIT
  for s in "${back[@]}"; do
    run_suite "$s" "suite_${s//-/_}" > "$LOGS/$s.log" 2>&1
    echo "=== background suite $s: ${results[-1]} (log: $LOGS/$s.log)"
  done
  printf '%s\n' "${results[@]}" > "$LOGS/results"
  echo "$failed" > "$LOGS/failed"
}

BG_PID=
stop_background() {
  [ -n "$BG_PID" ] && kill -0 "$BG_PID" 2>/dev/null && kill -- "-$BG_PID" 2>/dev/null
  BG_PID=
}
trap 'stop_background; cleanup' EXIT

total0=$SECONDS
if [ ${#back[@]} -gt 0 ]; then
  rm -rf "$LOGS" && mkdir -p "$LOGS"
  echo "=== in the background, logs in $LOGS: ${back[*]}"
  set -m  # its own process group, so that an interrupted run stops it whole
  run_background < /dev/null &
  BG_PID=$!
  set +m
fi
for s in "${fore[@]}"; do
  run_suite "$s" "suite_${s//-/_}"
done
cleanup
if [ -n "$BG_PID" ]; then
  wait "$BG_PID"
  BG_PID=
  for s in "${back[@]}"; do
    echo
    echo "=== background suite $s, its output:"
    cat "$LOGS/$s.log"
  done
  if [ -s "$LOGS/results" ]; then
    mapfile -t bg_results < "$LOGS/results"
    results=("${bg_results[@]}" "${results[@]}")
  fi
  [ "$(cat "$LOGS/failed" 2>/dev/null)" = 0 ] || failed=1
fi
trap - EXIT
echo
echo "=== summary ($((SECONDS - total0))s)"
printf '  %s\n' "${results[@]}"
if [ $failed -ne 0 ]; then
  echo "make test: FAILED"
  exit 1
fi
echo "make test: all suites passed"
