# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of the smtp_migrate role: migrate_plan, migrate_plan_table, migrate_canary, migrate_report,
migrate_report_markdown, migrate_batch_stopped, migrate_reach, migrate_locks, migrate_lock_renewal and
migrate_relay_running.

One file for all (named after the first); each is documented in its own .yml beside it. The decisions are in
plugins/plugin_utils/_migration.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.smtp.plugins.plugin_utils import _migration as m


def migrate_plan(hostvars, hosts, report=None, relay="auto", connector=None, endpoint="m365", inventory_hosts=None):
    """{host: smtp_migrate__plan} for the hosts of the run."""
    everyone = list(inventory_hosts or hosts or [])
    try:
        inputs = m.host_inputs(hostvars, everyone, m._PLAN_VARS)
        return m.plan_fleet(inputs, list(hosts or []), m.parse_report(report), relay, m.plain(connector),
                            endpoint if isinstance(endpoint, str) else "m365", everyone)
    except m.MigrationError as exc:
        raise AnsibleFilterError(str(exc))


def migrate_plan_table(plans, hosts):
    return m.plan_table(m.plain(plans) or {}, list(hosts or []))


def migrate_relay_running(default_transport):
    return m.running_relay_upstream(default_transport)


def migrate_canary(plans, hosts):
    return m.canary(m.plain(plans) or {}, list(hosts or []))


def migrate_report(hostvars, hosts, before=None, after=None, unreachable=None, check_mode=False,
                   stop_message=None, generated_at=None, new_credential=None, paths=None):
    """migration.json from each host's smtp_migrate__plan, smtp_migrate__moved, apps and credential path."""
    hosts = list(hosts or [])
    facts = m.host_inputs(hostvars, hosts, ("smtp_migrate__plan", "smtp_migrate__moved", "smtp_configure_apps",
                                            "smtp_migrate__apps_before", "mailops_smtp_vault"))
    return m.migration_report(
        hosts,
        dict((h, f.get("smtp_migrate__plan")) for h, f in facts.items()),
        dict((h, f.get("smtp_migrate__moved")) for h, f in facts.items()),
        # The apps as they were declared before the run (the after play may set the moved ones).
        dict((h, f.get("smtp_migrate__apps_before", f.get("smtp_configure_apps"))) for h, f in facts.items()),
        m.parse_report(before), m.parse_report(after), unreachable,
        dict((h, m.credential_where(f.get("mailops_smtp_vault"))) for h, f in facts.items()),
        new_credential, bool(check_mode), stop_message or None, generated_at, m.plain(paths))


def migrate_reach(results, action="stop", check_mode=False):
    try:
        return m.reach(m.plain(results), action, bool(check_mode))
    except m.MigrationError as exc:
        raise AnsibleFilterError(str(exc))


def migrate_report_markdown(report):
    return m.report_markdown(m.plain(report))


def migrate_batch_stopped(hostvars, hosts, max_fail_percentage=0, canary=None):
    """Whether the batches stop, from the smtp_migrate__moved of the hosts attempted so far."""
    hosts = list(hosts or [])
    facts = m.host_inputs(hostvars, hosts, ("smtp_migrate__moved",))
    attempted = [h for h in hosts if "smtp_migrate__moved" in facts[h]]
    stop, failed = m.batch_stopped(dict((h, facts[h]["smtp_migrate__moved"]) for h in attempted), attempted,
                                   max_fail_percentage, canary)
    return {"stop": stop, "failed": failed, "attempted": attempted}


def migrate_locks(hostvars, hosts, new_vault=None):
    """The Vault options of every credential to lock: the hosts' mailops_smtp_vault, then smtp_migrate_vault."""
    facts = m.host_inputs(hostvars, list(hosts or []), ("mailops_smtp_vault",))
    return m.credentials_to_lock([f.get("mailops_smtp_vault") for f in facts.values()], m.plain(new_vault))


def migrate_lock_renewal(last_at, ttl):
    return m.lock_renewal(last_at, ttl)


class FilterModule(object):
    def filters(self):
        return {
            "migrate_plan": migrate_plan,
            "migrate_plan_table": migrate_plan_table,
            "migrate_canary": migrate_canary,
            "migrate_report": migrate_report,
            "migrate_report_markdown": migrate_report_markdown,
            "migrate_batch_stopped": migrate_batch_stopped,
            "migrate_reach": migrate_reach,
            "migrate_locks": migrate_locks,
            "migrate_lock_renewal": migrate_lock_renewal,
            "migrate_relay_running": migrate_relay_running,
        }
