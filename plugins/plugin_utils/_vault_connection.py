# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: build the hvac client (TLS, namespace, timeout, bounded retries, proxies)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import (
    VaultCredentialError,
    missing_hvac_message,
)

# Vault answers 412 while a performance standby catches up, 429 when rate
# limited, and 5xx while sealed or failing over: all worth another try.
RETRY_STATUS = (412, 429, 500, 502, 503)
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 10
BACKOFF_JITTER = 0.5


def import_hvac():
    """hvac is imported only when a Vault call is made, so a missing hvac is a clear error."""
    try:
        import hvac  # pylint: disable=import-outside-toplevel
        import hvac.exceptions  # noqa: F401 pylint: disable=import-outside-toplevel
    except ImportError:
        raise VaultCredentialError(missing_hvac_message())
    return hvac


def verify_setting(options):
    """What requests needs: a CA bundle path, True, or False."""
    if not options.get("validate_certs", True):
        return False
    return options.get("ca_path") or True


def build_session(options):
    """A requests session whose retries keep the same TLS verification."""
    import requests  # pylint: disable=import-outside-toplevel
    from requests.adapters import HTTPAdapter  # pylint: disable=import-outside-toplevel
    from urllib3.util.retry import Retry  # pylint: disable=import-outside-toplevel

    retries = int(options.get("retries", 0))
    retry_kwargs = dict(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        status_forcelist=RETRY_STATUS,
        # Vault logins and writes are POSTs; retrying them on these statuses
        # is what the Vault docs advise for standbys and rate limits.
        allowed_methods=None,
        backoff_factor=BACKOFF_FACTOR,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    try:
        retry = Retry(backoff_max=BACKOFF_MAX, backoff_jitter=BACKOFF_JITTER, **retry_kwargs)
    except TypeError:  # urllib3 1.x: no jitter or backoff_max arguments
        retry = Retry(**retry_kwargs)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Set on the session itself: hvac copies a truthy session.verify over the
    # client's verify argument, which is how validate_certs once got lost.
    session.verify = verify_setting(options)
    # trust_env stays on: HTTP(S)_PROXY and NO_PROXY are honoured.
    session.trust_env = True
    return session


def build_client(options, cert=None):
    """An unauthenticated hvac.Client for options (a VaultOptions)."""
    hvac = import_hvac()
    session = build_session(options)
    if cert:
        session.cert = cert
    client = hvac.Client(
        url=options.get("url"),
        namespace=options.get("namespace") or None,
        verify=session.verify,
        timeout=options.get("timeout"),
        session=session,
        cert=cert,
    )
    # hvac picks up VAULT_TOKEN or ~/.vault-token by itself; the token auth
    # method decides on the token, with its own precedence.
    client.token = None
    return client
