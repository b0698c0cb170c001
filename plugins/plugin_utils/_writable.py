# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a host's applications could hold a credential, checked on the controller (filter configure_unwritable).

Internal use only. smtp_rotate asks before it stores a new value in Vault: a value that no file of the fleet can
carry (a line break for msmtp or a .env file, NUL anywhere) would otherwise become Vault's current version while
every host refuses it. The check is the settings engine's own (module_utils/_settings_engine.check_writable), on
the items the configure role hands mailops.smtp.host_settings. The messages name the application and the setting,
never a value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.module_utils import _settings_engine
from ansible_collections.mailops.smtp.plugins.plugin_utils._configure import settings_items


def _refusal(item, credential):
    """Why the settings engine refuses item's files with credential, or None."""
    params = dict(item, credential=dict(credential or {}) if item["credential"] else None)
    try:
        _settings_engine.check_writable(params)
    except _settings_engine.SettingsError as e:
        return str(e)
    return None


def unwritable(apps, credential, refresher_config_dir=None, host=None, baseline=None):
    """One message per application (described by _configure.describe_app) whose files could not hold credential.

    With baseline (the credential the files hold now), only the applications that take baseline and refuse
    credential: the new value is the reason. An application refused either way is left to the rollout, which
    reports it for its host as before."""
    out = []
    for item in settings_items(apps, refresher_config_dir):
        why = _refusal(item, credential)
        if why is None or (baseline is not None and _refusal(item, baseline) is not None):
            continue
        out.append("%s%s: %s" % ("on %s, " % host if host else "", item["name"], why))
    return out
