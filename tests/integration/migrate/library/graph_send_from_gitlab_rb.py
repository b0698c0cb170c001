# -*- coding: utf-8 -*-
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test module (lab only): send one message as GitLab's Graph mailer would, from the host's gitlab.rb.

Ruby reads gitlab.rb as GitLab's omnibus does (the file is Ruby), so the settings are what GitLab
would get; `_graph_send.send_mail` then sends with them from this host. Returns send_mail's
result; the client secret is a no_log value, so it can never reach the output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.smtp.plugins.module_utils._graph_send import send_mail

READ_GITLAB_RB = ("require 'json'\n"
                  "gitlab_rails = {}\n"
                  "def external_url(u); end\n"
                  "eval(File.read(ARGV[0], encoding: 'UTF-8'), binding)\n"
                  "puts JSON.generate(gitlab_rails)\n")


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True), to=dict(type="str", required=True),
        subject=dict(type="str", required=True), ca_path=dict(type="path")))
    rc, out, err = module.run_command(["ruby", "-e", READ_GITLAB_RB, module.params["path"]])
    if rc != 0:
        module.fail_json(msg="ruby could not read %s: %s" % (module.params["path"], err[-500:]))
    rails = json.loads(out)
    if rails.get("microsoft_graph_mailer_client_secret"):
        module.no_log_values.add(rails["microsoft_graph_mailer_client_secret"])
    if not rails.get("microsoft_graph_mailer_enabled"):
        module.fail_json(msg="GitLab's Graph mailer is not enabled in %s" % module.params["path"])
    result = send_mail(
        token_url=rails["microsoft_graph_mailer_azure_ad_endpoint"],
        client_id=rails["microsoft_graph_mailer_client_id"],
        client_secret=rails["microsoft_graph_mailer_client_secret"],
        tenant_id=rails["microsoft_graph_mailer_tenant"],
        graph_url=rails["microsoft_graph_mailer_graph_endpoint"],
        sender=rails["microsoft_graph_mailer_user_id"],
        to=module.params["to"], subject=module.params["subject"],
        body="Sent with GitLab's Graph mailer settings by mailops.smtp's lab test.\n",
        ca_path=module.params["ca_path"])
    module.exit_json(changed=False, graph=result, sender=rails["microsoft_graph_mailer_user_id"],
                     client_id=rails["microsoft_graph_mailer_client_id"])


if __name__ == "__main__":
    main()
