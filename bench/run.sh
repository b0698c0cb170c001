#!/usr/bin/env bash
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# Run every bench/*_bench.py, one after the other (`make bench` calls this). Each bench brings
# up the lab it needs under its own state dir and takes it down again; results go to stdout
# and bench/results/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PY:-$PWD/.venv/bin/python}
failed=0
for bench in bench/*_bench.py; do
  [ -e "$bench" ] || continue
  echo "=== bench $bench"
  if ! "$PY" "$bench"; then
    echo "=== bench $bench FAILED"
    failed=1
  fi
done
exit $failed
