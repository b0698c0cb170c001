# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The variables the move of a host sets for the configure and relay roles, and the refusal of a run that
gives them as extra variables (roles/smtp_migrate/tasks/guard.yml, filter migrate_extra_vars_refusal).

Internal use only. move.yml gives each of these names its value as task variables of a role include
(the plan's apps, the credential moved to, ...). Only a higher precedence outranks task variables: an
extra variable (-e), or a fact already set on the host. Then the configure role would write the old
list with the new credential (or the relay the wrong upstream), fail its proof and restore: the run
could never move anything. guard.yml sets each name to its probe value as a task variable and hands the
values it sees, and the probe, to refusal(); a value other than the probe was given with a higher precedence.
The move also sets smtp_configure_preflight (false), which is not guarded: given with -e, true only adds a login
before each host writes, and false is the move's own value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Each variable the move sets: the role it is given to, and the value the move gives it (guard.yml probes these,
# each set to its probe value there: the one place that value is written).
MOVE_SETS = {
    "smtp_configure_apps": "for the configure role, each host's planned apps",
    "smtp_configure_vault": "for the configure role, the credential smtp_migrate_vault",
    "smtp_relay_vault": "for the relay role, the credential smtp_migrate_vault",
    "smtp_relay_upstream": "for the relay role, the upstream xoauth2",
    "smtp_configure_credential_proven": "for the configure role, true: the run proved the credential from its canary",
    "smtp_configure_lock_run_id": "for the configure role, the id of this run's fleet lock",
}

# The names only the move sets (no inventory should hold them), and what their -e would do to the run.
MOVE_ONLY = {
    "smtp_configure_credential_proven": "every host would prove the credential again, or skip the proof its configure "
                                        "relies on",
    "smtp_configure_lock_run_id": "every host's configure would take the fleet lock this run holds for another run's "
                                  "and refuse it",
}


class GuardError(Exception):
    """guard.yml and MOVE_SETS disagree: the collection is inconsistent."""


def overridden(values, probe):
    """The names (in MOVE_SETS order) whose effective value is not the probe: given with -e, or set as a fact."""
    values = values or {}
    if set(values) != set(MOVE_SETS):
        raise GuardError("guard.yml probes %s, but the move sets %s" % (sorted(values), sorted(MOVE_SETS)))
    return [name for name in MOVE_SETS if values[name] != probe]


def _given(names):
    return "%s %s given as an extra variable (-e) or set as a fact, and that outranks what the move sets (%s)" % (
        " and ".join(names), "is" if len(names) == 1 else "are", "; ".join(MOVE_SETS[n] for n in names))


def refusal(values, probe):
    """Why the run is refused (with what to do), or '' when the move's own values would be used."""
    names = overridden(values, probe)
    if not names:
        return ""
    planned = [n for n in names if n not in MOVE_ONLY]
    only = [n for n in names if n in MOVE_ONLY]
    out = []
    if planned:
        listed = " and ".join(planned)
        out.append("%s. Every host would be written with that value instead of its plan, fail its proof and be "
                   "restored. Put %s in the inventory (group_vars or host_vars), not in -e, and run the same command "
                   "again." % (_given(planned), listed))
    if only:
        out.append("%s: %s. Leave %s out of -e (and out of set_fact): the move sets %s itself. Run the same command "
                   "again without %s." % (_given(only), "; ".join(MOVE_ONLY[n] for n in only), " and ".join(only),
                                          "it" if len(only) == 1 else "them", "it" if len(only) == 1 else "them"))
    return " ".join(out) + " Nothing was locked or written."
