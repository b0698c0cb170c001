# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every application of a host in one change: all checked, then all written, or none.

Internal use only (mailops.smtp.host_settings). Each app is planned as mailops.smtp.settings plans
it (_settings_engine); the candidates of every app are staged and checked before the first rename,
so an app refused for its parameters, or whose candidate fails a check (postconf, validate), leaves
every file of the host as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mailops.smtp.plugins.module_utils import _atomic
from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine as engine

NOTHING_WRITTEN = "no file of this host was written"


def _named(app, message):
    return "%s: %s; %s" % (app.get("name") or app.get("preset") or app.get("format"), message.rstrip(". "),
                           NOTHING_WRITTEN)


def specs_of_every_app(apps, run):
    """The file specs of each app; the first app refused stops everything before anything is read."""
    out = []
    for app in apps:
        try:
            out.append(engine.file_specs(app, run))
        except engine.SettingsError as e:
            raise engine.SettingsError(_named(app, str(e)))
    _refuse_shared_files(apps, out)
    return out


def _refuse_shared_files(apps, specs):
    """Two apps of one change cannot write one file: each would merge into the old text, and the
    second rename would undo the first app's keys."""
    owner = {}
    for app, app_specs in zip(apps, specs):
        for sp in app_specs:
            other = owner.setdefault(sp["path"], app.get("name"))
            if other != app.get("name"):
                raise engine.SettingsError(
                    "%s and %s both write %s; give that file's keys in one app (a format with keys), %s"
                    % (other, app.get("name"), sp["path"], NOTHING_WRITTEN))


def lock_dirs(specs, check_mode):
    """Every directory of the change, once, sorted. A check run also plans files in directories that do
    not exist yet (they would be created by the role first), and has nothing to lock there."""
    dirs = sorted(set(d for app_specs in specs for d in engine.lock_dirs(app_specs)))
    if check_mode:
        dirs = [d for d in dirs if os.path.isdir(d)]
    return dirs


def execute(apps, fp_key, run, check_mode=False, want_diff=False):
    """Plan every app, then (unless check_mode) stage and check every candidate, then rename them all."""
    specs = specs_of_every_app(apps, run)
    results = []
    diffs = []
    backups = []
    try:
        with engine._Locks(lock_dirs(specs, check_mode)):
            plans = []
            for app, app_specs in zip(apps, specs):
                try:
                    plans.append(engine.plan_specs(app_specs, app, fp_key))
                except engine.SettingsError as e:
                    raise engine.SettingsError(_named(app, str(e)))
            for app, app_plans in zip(apps, plans):
                res = engine.summary(app_plans, app)
                res["name"] = app.get("name")
                results.append(res)
                if want_diff:
                    diffs.extend(engine.diffs(app_plans))
            if any(r["changed"] for r in results) and not check_mode:
                backups = _write_all(apps, plans, run)
    except _atomic.AtomicError as e:
        raise engine.SettingsError(str(e))
    out = dict(changed=any(r["changed"] for r in results), apps=results)
    if want_diff:
        out["diff"] = diffs
    if backups:
        out["backup_files"] = backups
    return out


def _write_all(apps, plans, run):
    staged = {}
    try:
        for app, app_plans in zip(apps, plans):
            staged[id(app_plans)] = []
            try:
                engine.stage_all(app_plans, app, run, staged[id(app_plans)])
            except engine.SettingsError as e:
                raise engine.SettingsError(_named(app, str(e)))
        backups = []
        for app, app_plans in zip(apps, plans):
            backups.extend(engine.commit_all(staged[id(app_plans)], app))
        return backups
    finally:
        for pending in staged.values():
            engine.discard_all(pending)


def _dpkg_installed(packages, run):
    rc, out, _err = run(["dpkg-query", "-W", "-f", "${Package} ${Status}\\n"] + list(packages))
    installed = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[-2:] == ["ok", "installed"]:
            installed.add(parts[0].split(":")[0])
    return installed


def _rpm_installed(packages, run):
    installed = set()
    for pkg in packages:
        rc, _out, _err = run(["rpm", "-q", "--quiet", pkg])
        if rc == 0:
            installed.add(pkg)
    return installed


def missing_packages(packages, run, which=None):
    """The packages not installed, asked of dpkg or rpm; all of them when neither is there (the
    role's package task then decides, as it did before this check)."""
    packages = list(packages or [])
    if not packages:
        return []
    which = which or _which
    if which("dpkg-query"):
        installed = _dpkg_installed(packages, run)
    elif which("rpm"):
        installed = _rpm_installed(packages, run)
    else:
        installed = set()
    return [p for p in packages if p not in installed]


def _which(name):
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(os.pathsep):
        if os.access(os.path.join(d, name), os.X_OK):
            return True
    return False
