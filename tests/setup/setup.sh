#!/usr/bin/env bash
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# Install what `make demo` and `make test` need on a fresh Debian machine, as root:
# the apt packages of tests/apt-packages.txt, then the pinned venvs.
set -euo pipefail
cd "$(dirname "$0")/../.."

pkgs=$(grep -v -e '^#' -e '^$' tests/apt-packages.txt)
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  echo "postfix postfix/mailname string lab.invalid" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The lab starts each host's services itself; the machine's own must stay off.
for svc in postfix ssh cron; do service "$svc" stop >/dev/null 2>&1 || true; done

pyver() { find /root/.pyenv/versions -maxdepth 3 -path "*/$1.*/bin/python$1" 2>/dev/null | sort -V | tail -1; }
make_venv() {  # dir python requirements constraints
  local dir=$1 py=$2 req=$3 con=$4 stamp="$1/.mailops-stamp"
  local want; want=$(cat "$req" "$con" requirements.txt | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  [ -n "$py" ] || { echo "setup: no Python for $dir (expected under /root/.pyenv/versions)" >&2; exit 1; }
  echo "setup: building $dir with $py"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$req" -c "$con"
  echo "$want" > "$stamp"
}
make_venv .venv "$(pyver 3.12)" requirements-test.txt constraints-test.txt
make_venv .venv-219 "$(pyver 3.11)" requirements-compat.txt constraints-compat.txt
# Sanity on ansible-core 2.20 (Python >= 3.12 on the controller), and the release
# checks in venvs of their own: galaxy-importer pins tools of its own.
make_venv .venv-220 "$(pyver 3.12)" requirements-220.txt constraints-220.txt
make_venv .venv-importer "$(pyver 3.12)" requirements-importer.txt constraints-importer.txt
make_venv .venv-tools "$(pyver 3.12)" requirements-tools.txt constraints-tools.txt

# ansible-core finds the collection through a collections path.
mkdir -p .build/collections/ansible_collections/mailops
ln -sfn "$PWD" .build/collections/ansible_collections/mailops/smtp
echo "setup: ready"
