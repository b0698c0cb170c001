# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every module declares, described once; each module says its own
    # support (and details). Usage, as the community collections do:
    #   extends_documentation_fragment: [mailops.smtp.attributes, mailops.smtp.attributes.platform_posix]
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""

    # The module runs on the target host, with its standard-library Python only.
    PLATFORM_POSIX = r"""
options: {}
attributes:
  platform:
    description: Any POSIX host with Python (standard library only); tested on Debian 12 hosts.
    support: full
    platforms: posix
"""

    # An action plugin that runs on the controller only.
    PLATFORM_CONTROLLER = r"""
options: {}
attributes:
  platform:
    description: Runs on the controller; the target host is not contacted.
    support: full
    platforms: all
"""

    # meta/runtime.yml's action groups, for module_defaults.
    ACTION_GROUP_SMTP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/mailops.smtp.smtp) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - mailops.smtp.smtp
"""

    ACTION_GROUP_VAULT = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/mailops.smtp.vault) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - mailops.smtp.vault
"""
