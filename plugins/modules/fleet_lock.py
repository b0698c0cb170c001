# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation only: the code is the action plugin of the same name, which
# runs on the controller (hvac is never needed on a target).

DOCUMENTATION = r"""
module: fleet_lock
short_description: Take, renew, release or inspect the fleet lock of an SMTP credential in Vault or OpenBao
version_added: 0.1.0
description:
  - The fleet lock of a credential is the KV v2 secret C(<path>.lock) on the credential's mount. It names its
    holder (user, controller host, run id), when it was taken and when it expires.
  - Every write is a check-and-set on the version just read, so of two runs that race only one gets the lock;
    the other fails with a message naming the holder and the expiry.
  - Nothing is ever deleted. A release or a break writes a record with state C(released) or C(broken), so the
    token needs C(read), C(create) and C(update) on C(<mount>/data/<path>.lock) only (see docs/vault.md).
  - The mailops.smtp.rotate playbook takes the lock before its canary, renews it after every batch and
    releases it on every exit path Ansible reaches; smtp_configure refuses to write a credential from Vault while
    another run holds its lock.
  - This is an action plugin. It runs on the controller, needs C(hvac) there, and needs no C(delegate_to).
options:
  path:
    description: The credential's secret path under O(mount); the lock is C(<path>.lock) beside it.
    type: str
    required: true
  mount:
    description: Mount point of the credential's KV v2 secrets engine.
    type: str
    default: secret
  action:
    description:
      - V(status) reads the lock.
      - V(check) reads it and fails when a run other than O(run_id) holds it (what smtp_configure does).
      - V(take) takes a free or expired lock, or renews it when O(run_id) holds it already; fails when
        another run holds it.
      - V(renew) moves the expiry of a lock O(run_id) holds to O(ttl) seconds from now; fails when this run
        lost it (broken, or expired and taken over).
      - V(release) releases the lock when O(run_id) holds it, and does nothing otherwise.
      - V(break) ends the lock of the run O(break_lock) names, and only that run's lock.
    type: str
    choices: [status, check, take, renew, release, break]
    default: status
  run_id:
    description:
      - This run's id, the same for every action of one run (the rotate playbook makes one per run, or takes
        C(mailops_smtp_lock_run_id)). Required by V(take), V(renew) and V(release).
    type: str
  ttl:
    description: Seconds the lock lasts from its last take or renewal; after a kill only this frees it.
    type: int
    default: 3600
  break_lock:
    description:
      - The run id of the holder whose lock V(take) may take over, or V(break) ends, before it expires.
      - A lock held by another run id is left alone, so a break never ends a lock taken since.
    type: str
  user:
    description: The holder's user name written into the lock (for example the AWX user); default the
      controller's login name.
    type: str
extends_documentation_fragment:
  - mailops.smtp.vault.connection
  - mailops.smtp.attributes
  - mailops.smtp.attributes.platform_controller
  - mailops.smtp.attributes.action_group_vault
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  check_mode:
    details: Only reads the lock; V(check) still fails while another run holds it.
    support: full
  diff_mode:
    support: none
  async:
    support: none
    description: Not supported.
notes:
  - Expiry is compared with the controller's clock; keep the controllers' clocks in sync (NTP).
requirements:
  - hvac (on the controller)
seealso:
  - module: mailops.smtp.vault_credentials
author:
  - mailops.smtp maintainers (@mailops)
"""

EXAMPLES = r"""
- name: Take the lock of the mailer credential for this run
  mailops.smtp.fleet_lock:
    path: smtp/o365-mailer
    action: take
    run_id: "{{ my_run_id }}"
    ttl: 3600
  run_once: true

- name: Release it (does nothing when this run does not hold it)
  mailops.smtp.fleet_lock:
    path: smtp/o365-mailer
    action: release
    run_id: "{{ my_run_id }}"
  run_once: true

- name: Who holds it?
  mailops.smtp.fleet_lock:
    path: smtp/o365-mailer
  run_once: true
  register: lock
"""

RETURN = r"""
lock:
  description: The lock after the action (no secret in it).
  returned: success
  type: dict
  contains:
    held:
      description: Whether a run holds the lock now (held and not expired).
      type: bool
    state:
      description: V(free) (never taken), V(held), V(expired), V(released) or V(broken).
      type: str
    run_id:
      description: The holder's run id.
      type: str
    user:
      description: The holder's user.
      type: str
    host:
      description: The holder's controller host.
      type: str
    started_at:
      description: When the holder took the lock (UTC).
      type: str
    expires_at:
      description: When the lock expires unless renewed (UTC).
      type: str
    holder:
      description: One line naming the holder, when held.
      type: str
  sample: {held: true, state: held, run_id: 20261207T024500Z-1f2e3d4c, user: alice, host: ctl1,
           started_at: "2026-12-07T02:45:00Z", renewed_at: "2026-12-07T02:50:00Z", ttl: 3600,
           expires_at: "2026-12-07T03:50:00Z"}
path:
  description: The lock's place, C(<mount>/<path>.lock).
  returned: success
  type: str
  sample: secret/smtp/o365-mailer.lock
version:
  description: The KV v2 version of the lock record after the action (0 when never written).
  returned: success
  type: int
"""
