# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""OAuth 2.0 client-credentials grant for XOAUTH2 (Microsoft Entra ID and look-alikes).

Standard library only and Python 3.8 compatible: the msmtp token refresher on
target hosts imports this file as well as the controller-side plugins.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import random
import socket
import ssl
import threading
import time

try:
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote, urlencode
    from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener
except ImportError:  # pragma: no cover - Python 2 is not supported
    raise

from ansible_collections.mailops.smtp.plugins.module_utils.profiles import oauth_endpoint

DEFAULT_TIMEOUT = 10
DEFAULT_RETRIES = 2
# A token is handed out again only while it still has this much life left,
# so a caller never starts an SMTP session with a token about to lapse.
EXPIRY_MARGIN = 120
MAX_RETRIES = 10
MAX_BACKOFF = 8.0

# AADSTS codes users meet most, with what to do about each.
AADSTS_MESSAGES = {
    7000215: "the client secret is invalid. Store the secret's Value (not its Secret ID) from the app "
             "registration's 'Certificates & secrets' page",
    7000222: "the client secret has expired. Create a new secret in the app registration and store it "
             "in Vault",
    700016: "the application (client_id) was not found in the tenant. Check client_id and tenant_id, "
            "and that the app is registered or consented in that tenant (and cloud)",
    90002: "the tenant was not found. Check tenant_id (a GUID or a verified domain) and that the "
           "profile or oauth_authority matches the tenant's cloud",
    7000218: "the request carried no client secret or assertion. Store client_secret with the credential",
    70011: "the scope is invalid. For app-only SMTP use the resource's '/.default' scope, "
           "e.g. https://outlook.office365.com/.default",
    7000112: "the application is disabled. Enable it in Entra ID",
    900023: "the tenant identifier is malformed. Use the directory (tenant) ID GUID or a verified domain",
}

_RETRY_STATUS = frozenset([500, 502, 503, 504])
_CACHE = {}
_CACHE_LOCK = threading.Lock()


class OAuthError(Exception):
    """The token endpoint refused or could not be reached. Never holds a secret."""

    def __init__(self, message, aadsts=None, error=None, status=None):
        super(OAuthError, self).__init__(message)
        self.aadsts = aadsts
        self.error = error
        self.status = status


def clear_cache():
    with _CACHE_LOCK:
        _CACHE.clear()


def token_url(tenant_id, profile="m365", authority=None, scope=None):
    """Return (url, scope) for the tenant's v2.0 token endpoint."""
    if not tenant_id or any(c in str(tenant_id) for c in "/?#\r\n\x00 "):
        raise OAuthError("tenant_id %r is not valid; give the directory (tenant) ID or a verified domain"
                         % (tenant_id,))
    auth_base, auth_scope = oauth_endpoint(profile, authority=authority, scope=scope)
    return "%s/%s/oauth2/v2.0/token" % (auth_base, quote(str(tenant_id), safe="")), auth_scope


def _ssl_context(ca_path, validate_certs):
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_path:
        # Added to the system store, not instead of it: a private CA for a
        # proxy or a lab must not stop the public authority from working.
        try:
            ctx.load_verify_locations(cafile=ca_path)
        except (IOError, OSError, ssl.SSLError) as exc:
            raise OAuthError("cannot load ca_path %s: %s" % (ca_path, exc))
    return ctx


def _scrub(text, secret):
    text = text or ""
    if secret:
        text = text.replace(secret, "********")
    return text


def _describe_error(status, body, client_secret, url):
    """Turn an error response of the token endpoint into (message, aadsts, error)."""
    try:
        payload = json.loads(body.decode("utf-8", "replace")) if body else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    error = payload.get("error")
    description = _scrub(str(payload.get("error_description") or ""), client_secret)
    codes = payload.get("error_codes") or []
    aadsts = None
    if codes and isinstance(codes, list):
        try:
            aadsts = int(codes[0])
        except (TypeError, ValueError):
            aadsts = None
    if aadsts is None and description.startswith("AADSTS"):
        digits = description[6:].split(":", 1)[0]
        if digits.isdigit():
            aadsts = int(digits)
    first_line = description.splitlines()[0][:300] if description else ""
    if aadsts in AADSTS_MESSAGES:
        msg = "token request to %s failed (AADSTS%d): %s" % (url, aadsts, AADSTS_MESSAGES[aadsts])
    elif aadsts is not None:
        msg = "token request to %s failed (AADSTS%d, HTTP %s): %s" % (url, aadsts, status, first_line)
    else:
        msg = "token request to %s failed with HTTP %s%s%s" % (
            url, status, (": %s" % error) if error else "", (" - %s" % first_line) if first_line else "")
        if status in _RETRY_STATUS:
            msg += ". The identity provider is failing; retry later (or raise retries)"
    return msg, aadsts, error


def _post(opener, url, body, timeout):
    req = Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    })
    resp = opener.open(req, timeout=timeout)
    try:
        return resp.getcode(), resp.read(1024 * 1024)
    finally:
        resp.close()


def _request_token(url, form, client_secret, ctx, timeout, retries, sleep, backoff):
    opener = build_opener(ProxyHandler(), HTTPSHandler(context=ctx))
    body = urlencode(form).encode("ascii")
    attempts = 1 + max(0, min(int(retries), MAX_RETRIES))
    last = None
    for attempt in range(attempts):
        if attempt:
            delay = min(MAX_BACKOFF, backoff * (2 ** (attempt - 1)))
            sleep(delay + random.uniform(0, delay / 2.0))
        try:
            status, raw = _post(opener, url, body, timeout)
        except HTTPError as exc:
            raw = b""
            try:
                raw = exc.read(1024 * 1024)
            except Exception:  # the body is a courtesy; the status is what counts
                pass
            msg, aadsts, error = _describe_error(exc.code, raw, client_secret, url)
            last = OAuthError(msg, aadsts=aadsts, error=error, status=exc.code)
            if exc.code in _RETRY_STATUS:
                continue
            raise last
        except ssl.SSLError as exc:
            # A certificate problem does not go away on retry.
            raise OAuthError("TLS to %s failed: %s. Check ca_path, or the proxy that intercepts TLS"
                             % (url, getattr(exc, "reason", None) or exc))
        except URLError as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError) or isinstance(reason, ssl.CertificateError):
                raise OAuthError("TLS to %s failed: %s. Check ca_path, or the proxy that intercepts TLS"
                                 % (url, reason))
            last = OAuthError("cannot reach the token endpoint %s: %s. Check oauth_authority (or profile), "
                              "name resolution, the network path and any HTTPS proxy" % (url, reason))
            continue
        except (socket.timeout, OSError) as exc:
            last = OAuthError("no answer from the token endpoint %s within %ss: %s. Raise timeout, or check "
                              "the network path and any HTTPS proxy" % (url, timeout, exc))
            continue
        try:
            payload = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise OAuthError("the token endpoint %s answered HTTP %s without JSON: check that oauth_authority "
                             "is an OAuth 2.0 authority, and that no proxy or portal answers in its place"
                             % (url, status))
        if not isinstance(payload, dict) or not payload.get("access_token"):
            raise OAuthError("the token endpoint %s answered without an access_token: check that "
                             "oauth_authority is an OAuth 2.0 authority" % url)
        return payload
    raise OAuthError("%s (gave up after %d attempts)" % (last, attempts),
                     aadsts=getattr(last, "aadsts", None), error=getattr(last, "error", None),
                     status=getattr(last, "status", None))


def get_access_token(tenant_id, client_id, client_secret, profile="m365", authority=None, scope=None,
                     ca_path=None, validate_certs=True, timeout=DEFAULT_TIMEOUT, retries=DEFAULT_RETRIES,
                     use_cache=True, now=time.time, sleep=time.sleep, backoff=0.5):
    """Return {access_token, token_type, expires_in, expires_at} for the app.

    expires_at is seconds since the epoch (UTC). Tokens are kept in this
    process until EXPIRY_MARGIN seconds before they expire.
    """
    if not client_id:
        raise OAuthError("client_id is empty; store the application (client) ID with the credential")
    if not client_secret:
        raise OAuthError("client_secret is empty; store the client secret with the credential")
    url, use_scope = token_url(tenant_id, profile=profile, authority=authority, scope=scope)
    key = (url, client_id, use_scope,
           hashlib.sha256(client_secret.encode("utf-8")).hexdigest())
    if use_cache:
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        if cached and cached["expires_at"] - EXPIRY_MARGIN > now():
            return dict(cached)
    ctx = _ssl_context(ca_path, validate_certs)
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": use_scope,
    }
    payload = _request_token(url, form, client_secret, ctx, timeout, retries, sleep, backoff)
    try:
        expires_in = int(payload.get("expires_in", 3599))
    except (TypeError, ValueError):
        expires_in = 3599
    token = {
        "access_token": payload["access_token"],
        "token_type": payload.get("token_type", "Bearer"),
        "expires_in": expires_in,
        "expires_at": int(now()) + expires_in,
    }
    if use_cache:
        with _CACHE_LOCK:
            _CACHE[key] = dict(token)
    return token


def xoauth2_string(username, access_token):
    """The SASL XOAUTH2 initial response (before base64), as Exchange expects it."""
    return "user=%s\x01auth=Bearer %s\x01\x01" % (username, access_token)
