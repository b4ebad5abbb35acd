"""Access tokens: RS256 JWTs signed by the key ring's newest key, verified against any published key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from auth.keys import KeyRing
from common.tokens import ALGORITHM, InvalidToken, decode, signing_kid

__all__ = ["InvalidToken", "Issued", "issue", "verify"]


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int


def issue(
    *,
    user_id: str,
    email: str,
    ring: KeyRing,
    issuer: str,
    audience: str,
    ttl: int,
    version: int = 0,
    now: int | None = None,
) -> Issued:
    """``version``: the user's token version (``ver``); logging out raises it, and the gateway
    refuses tokens of an older one (auth/sessions.py)."""
    issued_at = int(time.time()) if now is None else now
    claims = {
        "sub": user_id,
        "email": email,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "iss": issuer,
        "aud": audience,
        "ver": version,
    }
    signer = ring.signer
    assert signer.private is not None
    token = jwt.encode(claims, signer.private, algorithm=ALGORITHM, headers={"kid": signer.kid})
    return Issued(token=token, expires_in=ttl)


def verify(token: str, *, ring: KeyRing, issuer: str, audience: str, leeway: int) -> dict[str, Any]:
    """The token's claims if it is ours and current; InvalidToken (with the reason) otherwise."""
    kid = signing_kid(token)
    key = ring.get(kid) if kid else None
    if key is None:
        raise InvalidToken("The token was not signed by a key this service publishes.")
    return decode(token, key.public, issuer=issuer, audience=audience, leeway=leeway)
