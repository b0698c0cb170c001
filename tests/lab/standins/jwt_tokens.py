# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access tokens shaped like Entra ID's app-only tokens for Exchange Online, and their check.

Entra signs a JWT (RS256) whose claims Exchange Online checks before it accepts XOAUTH2:
`aud` https://outlook.office365.com, `roles` holding SMTP.SendAsApp, `exp` in the future, and a
valid signature. The claim set follows a decoded client-credentials token (v1.0, app-only):
`aio`, `appid`, `appidacr`, `idp`, `idtyp`, `oid`, `rh`, `roles`, `sub`, `tid`, `uti`, `ver`,
`wids`, `xms_*`; real tokens are 1.5 to 3 KB (m365-facts.md), and these come out near 1.8 KB.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

SEND_AS_APP = "SMTP.SendAsApp"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
# Microsoft Graph's application permission for sendMail, in the `roles` of a Graph token.
MAIL_SEND = "Mail.Send"
GRAPH_AUDIENCE = "https://graph.microsoft.com"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenSigner:
    """One signing key per stand-in run; `verify` gives the claims or None, never a reason."""

    def __init__(self):
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Entra names its keys by the certificate thumbprint (x5t = kid).
        self._kid = _b64url(hashlib.sha1(secrets.token_bytes(32)).digest())  # noqa: S324 - a name, not a check

    def issue(self, *, tenant_id: str, client_id: str, audience: str, lifetime: int,
              roles: list[str], app_name: str) -> str:
        now = int(time.time())
        issuer = f"https://sts.windows.net/{tenant_id}/"
        claims = {
            "aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": now + int(lifetime),
            "aio": _b64url(secrets.token_bytes(90)), "app_displayname": app_name,
            "appid": client_id, "appidacr": "1", "idp": issuer, "idtyp": "app",
            "oid": str(uuid.uuid4()), "rh": "1.A" + _b64url(secrets.token_bytes(60)) + ".",
            "sid": str(uuid.uuid4()), "sub": str(uuid.uuid4()), "tid": tenant_id,
            "uti": _b64url(secrets.token_bytes(16)), "ver": "1.0",
            "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
            "xms_ftd": _b64url(secrets.token_bytes(48)), "xms_idrel": "7 26", "xms_rd": "0.42" +
            _b64url(secrets.token_bytes(60)), "xms_tcdt": 1600000000,
        }
        if roles:
            claims["roles"] = list(roles)
        headers = {"typ": "JWT", "nonce": _b64url(secrets.token_bytes(32)), "x5t": self._kid,
                   "kid": self._kid}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def verify(self, token: str, audience: str = EXCHANGE_AUDIENCE) -> dict | None:
        """The claims when signature, audience and expiry hold (as Exchange checks), else None."""
        try:
            return jwt.decode(token, self._key.public_key(), algorithms=["RS256"], audience=audience,
                              options={"require": ["exp", "aud", "tid", "appid"]})
        except jwt.PyJWTError:
            return None
