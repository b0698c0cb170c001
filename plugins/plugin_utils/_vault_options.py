# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: the option adapter shared by the vault_credentials lookup and action.

The lookup reads its options with get_option, the action from its task
arguments; both hand them to VaultOptions, and the connection, auth and
read/write code only ever asks VaultOptions. The argument spec below is the
single definition of every option's type, default and no_log flag.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError

AUTH_METHODS = ("token", "approle", "userpass", "jwt", "cert")

AUTH_SPEC = dict(
    method=dict(type="str", default="token", choices=list(AUTH_METHODS)),
    mount=dict(type="str"),
    token=dict(type="str", no_log=True),
    token_file=dict(type="path"),
    role_id=dict(type="str"),
    secret_id=dict(type="str", no_log=True),
    secret_id_wrapped=dict(type="bool", default=False, no_log=False),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    role=dict(type="str"),
    jwt=dict(type="str", no_log=True),
    cert_path=dict(type="path"),
    key_path=dict(type="path", no_log=False),
)

CONNECTION_SPEC = dict(
    url=dict(type="str"),
    namespace=dict(type="str"),
    ca_path=dict(type="path"),
    # None means "not given", so VAULT_SKIP_VERIFY can still apply below it.
    validate_certs=dict(type="bool"),
    timeout=dict(type="int", default=10),
    retries=dict(type="int", default=3),
    auth=dict(type="dict", default={}, options=AUTH_SPEC),
)

READ_SPEC = dict(
    path=dict(type="str", required=True),
    mount=dict(type="str", default="secret"),
    kv_version=dict(type="int", default=2, choices=[1, 2]),
    version=dict(type="int"),
    fields=dict(type="dict", default={}),
    type=dict(type="str", default="auto", choices=["auto", "basic", "oauth2"]),
    fetch_access_token=dict(type="bool", default=False),
    profile=dict(type="str", default="m365"),
    oauth_authority=dict(type="str"),
    oauth_scope=dict(type="str"),
    oauth_ca_path=dict(type="path"),
)

WRITE_SPEC = dict(
    state=dict(type="str", default="read", choices=["read", "present"]),
    data=dict(type="dict", no_log=True),
    cas=dict(type="int"),
)

LOOKUP_SPEC = dict(CONNECTION_SPEC, **READ_SPEC)
ACTION_SPEC = dict(LOOKUP_SPEC, **WRITE_SPEC)

MAX_RETRIES = 10
MAX_TIMEOUT = 600

_TRUE = ("1", "true", "yes", "on", "t", "y")


def _env(environ, *names):
    """The first non-empty variable; VAULT_* is listed before its BAO_* twin."""
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def _plain(value):
    """value with every mapping a dict and every list or tuple a list, all the way down."""
    if isinstance(value, Mapping):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class VaultOptions:
    """Validated options plus the environment fallbacks, read through get()/auth()."""

    def __init__(self, options, spec, environ=None, warn=None):
        self._environ = os.environ if environ is None else environ
        self._warn = warn or (lambda msg: None)
        self._options = self._validate(options, spec)
        self._apply_environment()

    @classmethod
    def from_plugin(cls, plugin, spec, environ=None, warn=None, extra=None):
        """Build from a configured plugin (get_option) for the options it knows."""
        options = dict(extra or {})
        for name in spec:
            try:
                value = plugin.get_option(name)
            except KeyError:
                continue
            if value is not None and name not in options:
                options[name] = value
        return cls(options, spec, environ=environ, warn=warn)

    @staticmethod
    def _validate(options, spec):
        validator = ArgumentSpecValidator(
            spec,
            required_if=[("state", "present", ["data"])] if "state" in spec else None,
        )
        # Plain containers: validate() deep-copies its input, and deep-copying ansible-core 2.21's
        # lazy template dicts (a lookup's auth={...}) prints deprecation warnings about plugin aliases.
        result = validator.validate(_plain(options))
        if result.error_messages:
            # Validator messages name options and types, never no_log values.
            raise VaultCredentialError("invalid options for vault_credentials: %s"
                                       % "; ".join(result.error_messages))
        params = result.validated_parameters
        if params.get("auth") is None:
            params["auth"] = validator.validate({"auth": {}}).validated_parameters["auth"]
        return params

    def _apply_environment(self):
        opts, env = self._options, self._environ
        if not opts.get("url"):
            opts["url"] = _env(env, "VAULT_ADDR", "BAO_ADDR")
        if not opts.get("namespace"):
            opts["namespace"] = _env(env, "VAULT_NAMESPACE", "BAO_NAMESPACE")
        if not opts.get("ca_path"):
            opts["ca_path"] = _env(env, "VAULT_CACERT", "BAO_CACERT")
        if opts.get("validate_certs") is None:
            skip = _env(env, "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY")
            if skip and skip.strip().lower() in _TRUE:
                self._warn("VAULT_SKIP_VERIFY/BAO_SKIP_VERIFY is set: the Vault server certificate is "
                           "NOT verified. Set ca_path instead.")
                opts["validate_certs"] = False
            else:
                opts["validate_certs"] = True
        if not opts.get("url"):
            raise VaultCredentialError("no Vault address: give url, or set VAULT_ADDR (or BAO_ADDR)")
        if not opts["url"].startswith(("http://", "https://")):
            raise VaultCredentialError("url %r must start with http:// or https://" % opts["url"])
        if not 1 <= opts["timeout"] <= MAX_TIMEOUT:
            raise VaultCredentialError("timeout must be between 1 and %d seconds" % MAX_TIMEOUT)
        if not 0 <= opts["retries"] <= MAX_RETRIES:
            raise VaultCredentialError("retries must be between 0 and %d" % MAX_RETRIES)
        if opts.get("version") is not None and opts.get("kv_version") == 1:
            raise VaultCredentialError("version pins work on KV v2 only; remove version or set kv_version: 2")
        if opts.get("version") is not None and opts["version"] < 1:
            raise VaultCredentialError("version must be 1 or more")

    @property
    def environ(self):
        return self._environ

    def warn(self, msg):
        self._warn(msg)

    def get(self, name, default=None):
        value = self._options.get(name)
        return default if value is None else value

    def auth(self, name, default=None):
        value = self._options["auth"].get(name)
        return default if value is None else value

    def with_path(self, path):
        """A copy for another secret path (the lookup takes several terms)."""
        clone = object.__new__(VaultOptions)
        clone._environ, clone._warn = self._environ, self._warn
        clone._options = dict(self._options, path=path)
        return clone

    def __repr__(self):
        # Options hold secrets; never let a traceback or debug print show them.
        return "<VaultOptions url=%r path=%r auth=%r>" % (
            self._options.get("url"), self._options.get("path"), self._options["auth"].get("method"))
