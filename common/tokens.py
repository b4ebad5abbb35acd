"""Verifying mp4mp3 access tokens: the one contract auth signs to and the gateway checks.

RS256 is pinned before any key is chosen, so ``alg: none`` and HS256 tokens "signed" with the
public key (algorithm confusion) are refused by name; every claim of the contract is required.
"""

from __future__ import annotations

from typing import Any

import jwt

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("sub", "email", "iat", "exp", "iss", "aud")


class InvalidToken(Exception):
    """The token must not be trusted; ``str(exc)`` is a sentence a client can show."""


def signing_kid(token: str) -> str | None:
    """The ``kid`` the token names (None if it names none), once its header proves it is RS256."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("The token is malformed.") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"The token must be signed with {ALGORITHM}.")
    kid = header.get("kid")
    return kid if isinstance(kid, str) and kid else None


def decode(token: str, key: Any, *, issuer: str, audience: str, leeway: float) -> dict[str, Any]:
    """The token's claims if ``key`` signed it and it is current and ours; InvalidToken otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
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
    except jwt.ImmatureSignatureError:
        raise InvalidToken("The token is not valid yet.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The token is not valid.") from None
    return claims
