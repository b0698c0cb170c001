# -*- coding: utf-8 -*-
# Copyright: mailops.smtp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Internal use only: read and write SMTP credentials in Vault KV, and build the credential object."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailops.smtp.plugins.module_utils.oauth import OAuthError, get_access_token
from ansible_collections.mailops.smtp.plugins.module_utils.profiles import ProfileError
from ansible_collections.mailops.smtp.plugins.plugin_utils._unsafe import mark_unsafe
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_auth import vault_session
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_connection import import_hvac
from ansible_collections.mailops.smtp.plugins.plugin_utils._vault_errors import VaultCredentialError, translate

FIELD_NAMES = ("username", "password", "tenant_id", "client_id", "client_secret")
TYPE_FIELDS = {
    "basic": ("username", "password"),
    # XOAUTH2 names the mailbox in user=, so an app credential needs it too.
    "oauth2": ("username", "tenant_id", "client_id", "client_secret"),
}
_OAUTH_ONLY = ("tenant_id", "client_id", "client_secret")


def _where(options, version=None):
    text = "%s/%s" % (options.get("mount").strip("/"), options.get("path").strip("/"))
    if version is not None:
        text += " version %s" % version
    return text


def field_map(options):
    renames = options.get("fields") or {}
    unknown = sorted(set(renames) - set(FIELD_NAMES))
    if unknown:
        raise VaultCredentialError("fields: unknown field name(s) %s; rename only %s"
                                   % (", ".join(unknown), ", ".join(FIELD_NAMES)))
    return dict((name, to_text(renames.get(name) or name)) for name in FIELD_NAMES)


def _read_v1(client, options):
    response = client.secrets.kv.v1.read_secret(path=options.get("path"), mount_point=options.get("mount"))
    return response.get("data") or {}, {"version": None, "created_time": None}


def _latest_live_version(client, options):
    """The newest version that is neither deleted nor destroyed, or None."""
    try:
        meta = client.secrets.kv.v2.read_secret_metadata(path=options.get("path"),
                                                         mount_point=options.get("mount"))
    except Exception:  # metadata may be outside the policy; the hint is then vaguer
        return None
    versions = ((meta or {}).get("data") or {}).get("versions") or {}
    live = [int(v) for v, info in versions.items()
            if not info.get("destroyed") and not info.get("deletion_time")]
    return max(live) if live else None


def _deleted_error(client, options, metadata):
    version = metadata.get("version")
    state = "destroyed" if metadata.get("destroyed") else "deleted"
    pinned = options.get("version") is not None
    live = None if pinned else _latest_live_version(client, options)
    if pinned:
        hint = "pin another version, or undelete this one (kv undelete)"
    elif live:
        hint = "pin 'version: %d' (the newest version that is not deleted), or undelete version %s" % (live, version)
    else:
        hint = "pin an earlier version that is not deleted, or write a new version"
    return VaultCredentialError("version %s of %s is %s; %s" % (version, _where(options), state, hint))


def _read_v2(client, options):
    hvac = import_hvac()
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=options.get("path"), version=options.get("version"), mount_point=options.get("mount"),
            raise_on_deleted_version=False)
    except hvac.exceptions.InvalidPath as exc:
        # A destroyed version answers 404 with its metadata in the body.
        metadata = (((getattr(exc, "json", None) or {}).get("data") or {}).get("metadata")) or {}
        if metadata.get("version"):
            raise _deleted_error(client, options, metadata)
        if options.get("version") is not None:
            raise VaultCredentialError("version %s of %s does not exist (HTTP 404); check the version pin"
                                       % (options.get("version"), _where(options)))
        raise
    data = (response or {}).get("data") or {}
    metadata = data.get("metadata") or {}
    if data.get("data") is None:
        raise _deleted_error(client, options, metadata)
    return data["data"], {"version": metadata.get("version"), "created_time": metadata.get("created_time")}


def read_secret(client, options):
    """Return (data, meta) for the secret; KV errors become VaultCredentialError."""
    reader = _read_v2 if options.get("kv_version") == 2 else _read_v1
    try:
        return reader(client, options)
    except VaultCredentialError:
        raise
    except Exception as exc:
        doing = "read %s (KV v%s)" % (_where(options, options.get("version")), options.get("kv_version"))
        raise translate(exc, doing, options.get("url"))


def _detect_type(data, names, options, version):
    wanted = options.get("type")
    if wanted != "auto":
        return wanted
    has_basic = bool(data.get(names["password"]))
    has_oauth = any(data.get(names[f]) for f in _OAUTH_ONLY)
    if has_basic and has_oauth:
        raise VaultCredentialError("%s holds both a password and OAuth fields; set type: basic or type: oauth2"
                                   % _where(options, version))
    if has_oauth:
        return "oauth2"
    if has_basic:
        return "basic"
    raise VaultCredentialError(
        "%s holds neither field %r (basic) nor %r/%r/%r (oauth2); check the path, or map the names with fields"
        % (_where(options, version), names["password"], names["tenant_id"], names["client_id"],
           names["client_secret"]))


def build_credential(data, meta, options):
    """The credential object from a KV secret; names the missing fields, never the values."""
    if not isinstance(data, dict):
        raise VaultCredentialError("%s does not hold key/value fields" % _where(options, meta.get("version")))
    names = field_map(options)
    cred_type = _detect_type(data, names, options, meta.get("version"))
    missing = [names[f] for f in TYPE_FIELDS[cred_type]
               if data.get(names[f]) is None or to_text(data.get(names[f])).strip() == ""]
    if missing:
        raise VaultCredentialError("%s credential at %s: field(s) %s missing or empty"
                                   % (cred_type, _where(options, meta.get("version")), ", ".join(missing)))
    credential = {"type": cred_type}
    for field in TYPE_FIELDS[cred_type]:
        credential[field] = to_text(data[names[field]])
    credential["vault"] = {
        "path": options.get("path"),
        "mount": options.get("mount"),
        "kv_version": options.get("kv_version"),
        "version": meta.get("version"),
        "created_time": meta.get("created_time"),
    }
    return credential


def add_access_token(credential, options):
    # "If the credential is oauth2, also get a token": a basic one needs none, so
    # roles can ask for it without knowing the secret's type in advance.
    if credential["type"] != "oauth2":
        return credential
    try:
        token = get_access_token(
            credential["tenant_id"], credential["client_id"], credential["client_secret"],
            profile=options.get("profile"), authority=options.get("oauth_authority"),
            scope=options.get("oauth_scope"), ca_path=options.get("oauth_ca_path"),
            timeout=options.get("timeout"), retries=options.get("retries"))
    except (OAuthError, ProfileError) as exc:
        raise VaultCredentialError("credential from %s: %s" % (_where(options), exc))
    credential["access_token"] = token["access_token"]
    credential["expires_at"] = token["expires_at"]
    return credential


def fetch_credentials(options, paths=None):
    """Log in once, read every path, revoke; return unsafe-marked credential objects."""
    paths = paths or [options.get("path")]
    results = []
    with vault_session(options) as client:
        for path in paths:
            per_path = options.with_path(path)
            data, meta = read_secret(client, per_path)
            results.append(build_credential(data, meta, per_path))
    # The token request goes to the identity provider, after Vault is done.
    for index, path in enumerate(paths):
        if options.get("fetch_access_token"):
            add_access_token(results[index], options.with_path(path))
    return [mark_unsafe(cred) for cred in results]


def store_credential(options, check_mode=False):
    """Write data as a new version when it differs; return {changed, vault} (no secret values)."""
    data = options.get("data") or {}
    if not data:
        raise VaultCredentialError("state: present needs data")
    if options.get("cas") is not None and options.get("kv_version") != 2:
        raise VaultCredentialError("cas works on KV v2 only")
    if options.get("version") is not None:
        raise VaultCredentialError("version pins apply to reads; remove version for state: present")
    wanted = dict((to_text(k), to_text(v)) for k, v in data.items())
    hvac = import_hvac()
    with vault_session(options) as client:
        current, meta = None, {"version": None, "created_time": None}
        try:
            current, meta = read_secret(client, options)
        except VaultCredentialError as exc:
            # Absent, deleted or destroyed: writing a new version is the fix.
            if "HTTP 404" not in str(exc) and " is deleted" not in str(exc) and " is destroyed" not in str(exc):
                raise
        if current is not None and dict((to_text(k), to_text(v)) for k, v in current.items()) == wanted:
            return {"changed": False, "vault": _meta(options, meta)}
        if check_mode:
            return {"changed": True, "vault": _meta(options, meta)}
        doing = "write %s (KV v%s)" % (_where(options), options.get("kv_version"))
        try:
            if options.get("kv_version") == 2:
                response = client.secrets.kv.v2.create_or_update_secret(
                    path=options.get("path"), secret=wanted, cas=options.get("cas"),
                    mount_point=options.get("mount"))
                written = (response or {}).get("data") or {}
                meta = {"version": written.get("version"), "created_time": written.get("created_time")}
            else:
                client.secrets.kv.v1.create_or_update_secret(
                    path=options.get("path"), secret=wanted, mount_point=options.get("mount"))
                meta = {"version": None, "created_time": None}
        except hvac.exceptions.InvalidRequest as exc:
            if "check-and-set" in str(exc):
                raise VaultCredentialError(cas_refused_message(options, meta.get("version")))
            raise translate(exc, doing, options.get("url"))
        except Exception as exc:
            raise translate(exc, doing, options.get("url"))
    return {"changed": True, "vault": _meta(options, meta)}


def cas_refused_message(options, seen_version):
    """Vault's check-and-set refusal, for an operator: what happened and what to do next."""
    where, cas = _where(options), options.get("cas")
    if cas is None:
        return ("Vault refused to write %s: its mount requires check-and-set (cas_required). Read the secret "
                "and pass its current version as cas. Nothing was written" % where)
    if seen_version is not None and int(seen_version) != int(cas):
        latest = "version %s is the latest now" % seen_version
    else:
        latest = "a newer version was stored a moment ago"
    return ("Vault refused to write %s (check-and-set): this run read version %s (cas %s), but %s. Someone "
            "else stored a version since this run read it, so nothing was written and theirs stands. Find out "
            "who and why (the Vault audit log, or: bao kv metadata get -mount=%s %s), make sure the credential "
            "in Vault is the one you want, then run again: a new run reads the latest version and checks "
            "against that" % (where, cas, cas, latest, options.get("mount").strip("/"), options.get("path").strip("/")))


def _meta(options, meta):
    return {"path": options.get("path"), "mount": options.get("mount"), "kv_version": options.get("kv_version"),
            "version": meta.get("version"), "created_time": meta.get("created_time")}
