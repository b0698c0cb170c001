# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: the one error type the Vault helpers raise.

The lookup turns it into AnsibleError, the action into a failed result. Its
message never carries a secret value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class VaultCredentialError(Exception):
    """A Vault or OAuth step failed; the message says what to do next."""


def missing_hvac_message():
    # The same text modules give through missing_required_lib, so users meet
    # one wording whichever plugin they ran.
    try:
        from ansible.module_utils.basic import missing_required_lib
        return missing_required_lib("hvac") + " (on the controller: pip install hvac)"
    except ImportError:  # pragma: no cover
        return "Failed to import the required Python library (hvac) on the controller"


def _vault_detail(exc):
    errors = getattr(exc, "errors", None)
    if errors:
        text = "; ".join(str(e) for e in errors)
    else:
        text = str(exc) or ""
    # Vault wraps messages as "1 error occurred:\n\t* permission denied\n\n".
    lines = [line.strip(" \t*") for line in text.splitlines()]
    lines = [line for line in lines if line and not line.endswith("error occurred:")
             and not line.endswith("errors occurred:")]
    return " ".join(lines)[:400]


def translate(exc, doing, url):
    """Map an hvac/requests exception to VaultCredentialError with a next step.

    doing is a short phrase such as "read secret/smtp/x (KV v2)".
    """
    if isinstance(exc, VaultCredentialError):
        return exc
    name = type(exc).__name__
    mro = [klass.__name__ for klass in type(exc).__mro__]
    detail = _vault_detail(exc)
    if name == "Forbidden":
        return VaultCredentialError(
            "Vault refused to %s: permission denied (HTTP 403). The token's policies do not allow this path, "
            "or the token is invalid or expired; grant the policy (see docs/vault.md) or use another token"
            % doing)
    if name == "InvalidPath":
        return VaultCredentialError("nothing found to %s (HTTP 404): check path, mount and kv_version" % doing)
    if name == "Unauthorized":
        return VaultCredentialError("Vault did not accept the credentials to %s (HTTP 401): %s" % (doing, detail))
    if name in ("VaultDown", "VaultNotInitialized"):
        return VaultCredentialError(
            "Vault at %s is sealed or unavailable (HTTP 503) while trying to %s: unseal it "
            "(bao operator unseal / vault operator unseal) or wait for it, then retry" % (url, doing))
    if name == "RateLimitExceeded":
        return VaultCredentialError("Vault rate-limited the request to %s (HTTP 429) after all retries; "
                                    "raise retries or lower the load (use run_once)" % doing)
    if name == "InvalidRequest":
        return VaultCredentialError("Vault rejected the request to %s (HTTP 400): %s" % (doing, detail))
    # hvac maps no exception to 412 (UnexpectedError); Vault's 412 body says this.
    if name == "PreconditionFailed" or "required index state" in detail:
        return VaultCredentialError("Vault was not ready to %s (HTTP 412: a standby had not caught up) "
                                    "after all retries; retry later, or raise retries" % doing)
    if name in ("InternalServerError", "BadGateway", "UnexpectedError"):
        return VaultCredentialError(
            "Vault failed to %s (%s), after all retries: %s. Check the Vault server's log and any load "
            "balancer in front of it, then retry (or raise retries)" % (doing, name, detail or "no detail"))
    if "SSLError" in mro:
        return VaultCredentialError("TLS to Vault at %s failed while trying to %s: %s" % (url, doing, _tls_advice(exc)))
    # After retries, requests reports a read timeout as a ConnectionError.
    if "Timeout" in mro or ("ConnectionError" in mro and "timed out" in str(exc).lower()):
        return VaultCredentialError(
            "Vault at %s did not answer in time while trying to %s, after all retries; raise timeout or "
            "retries, or check the server load and any firewall that drops traffic" % (url, doing))
    if "ConnectionError" in mro:
        return VaultCredentialError(
            "cannot connect to Vault at %s to %s, after all retries: %s. Check url (VAULT_ADDR), the "
            "network path and any proxy settings" % (url, doing, _short_reason(exc)))
    if "VaultError" in mro:
        return VaultCredentialError("Vault failed to %s: %s" % (doing, detail))
    return VaultCredentialError("unexpected %s while trying to %s" % (name, doing))


def _tls_advice(exc):
    """Say which certificate check failed, since each has its own fix."""
    text = str(exc)
    low = text.lower()
    if "hostname mismatch" in low or "doesn't match" in low or "not valid for" in low:
        return ("the server certificate is not valid for the host name in url. Use a url with a name the "
                "certificate holds (not an alias or a bare IP address), or have the certificate reissued "
                "for this name")
    if "certificate has expired" in low or "certificate is not yet valid" in low:
        return ("the server certificate has expired (or is not valid yet). Renew the certificate on the "
                "Vault server, and check the clocks")
    if "certificate verify failed" in low:
        return ("the server certificate is not trusted. Give ca_path (or VAULT_CACERT) with the CA that "
                "issued it; if a proxy intercepts TLS, trust that proxy's CA or exempt Vault in NO_PROXY")
    return ("the TLS handshake failed (%s). Check that url is an https:// Vault listener, and give ca_path "
            "(or VAULT_CACERT) with the CA that issued its certificate" % _short_reason(exc))


def _short_reason(exc):
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Network is unreachable", "Connection reset", "timed out"):
        if marker in text:
            return marker.lower()
    return text[:200]
