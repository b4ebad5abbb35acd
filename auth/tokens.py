"""Access tokens: RS256 JWTs signed by the key ring's newest key, verified against any published key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from auth.keys import ALGORITHM, KeyRing

REQUIRED_CLAIMS = ("sub", "email", "iat", "exp", "iss", "aud")


class InvalidToken(Exception):
    """The token must not be trusted; ``str(exc)`` is a sentence a client can show."""


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int


def issue(
    *, user_id: str, email: str, ring: KeyRing, issuer: str, audience: str, ttl: int, now: int | None = None
) -> Issued:
    issued_at = int(time.time()) if now is None else now
    claims = {
        "sub": user_id,
        "email": email,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "iss": issuer,
        "aud": audience,
    }
    signer = ring.signer
    assert signer.private is not None
    token = jwt.encode(claims, signer.private, algorithm=ALGORITHM, headers={"kid": signer.kid})
    return Issued(token=token, expires_in=ttl)


def verify(token: str, *, ring: KeyRing, issuer: str, audience: str, leeway: int) -> dict[str, Any]:
    """The token's claims if it is ours and current; InvalidToken (with the reason) otherwise.

    The algorithm is pinned to RS256 before any key is chosen: ``alg: none`` and HS256 tokens
    "signed" with the public key (algorithm confusion) are refused by name, not by accident.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("The token is malformed.") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"The token must be signed with {ALGORITHM}.")
    kid = header.get("kid")
    key = ring.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("The token was not signed by a key this service publishes.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired; log in again.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The token was issued for another audience.") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("The token was issued by another issuer.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The token lacks the {exc.claim!r} claim.") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("The token's signature does not verify.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The token is not valid.") from None
    return claims
