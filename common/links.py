"""Download links that work without a bearer token: the contract between the notification service,
which puts them in emails, and the gateway, which honours them.

A link carries an HS256 JWT (``aud`` = download, one job, its owner, an expiry) signed with a
secret both services share. It grants reading that one job's MP3 until it expires; deleting the job
revokes it (the gateway finds no job for the owner any more).
"""

from __future__ import annotations

import time
from typing import Any

import jwt

ALGORITHM = "HS256"
AUDIENCE = "mp4mp3-download"
ISSUER = "mp4mp3-notification"
QUERY_PARAMETER = "link"
MIN_SECRET_BYTES = 32  # HS256 keys shorter than the hash are guessable offline


class InvalidLink(Exception):
    """The link must not be honoured; ``str(exc)`` is a sentence a client can show."""


def sign(*, secret: str, job: str, owner: str, ttl_seconds: int, now: int | None = None) -> str:
    issued = int(time.time()) if now is None else now
    claims = {
        "aud": AUDIENCE,
        "iss": ISSUER,
        "sub": owner,
        "job": job,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, _key(secret), algorithm=ALGORITHM)


def verify(token: str, *, secret: str, job: str, leeway: float = 10.0) -> str:
    """The owner the link was issued to, if it is genuine, current and for ``job``."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=leeway,
            options={"require": ["aud", "iss", "sub", "job", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidLink("This download link has expired; log in to download the MP3.") from None
    except jwt.InvalidTokenError:
        raise InvalidLink("This download link is not valid.") from None
    if claims["job"] != job or not isinstance(claims["sub"], str):
        raise InvalidLink("This download link is for another job.")
    return claims["sub"]


def _key(secret: str) -> bytes:
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the download link secret must be at least {MIN_SECRET_BYTES} bytes")
    return key
