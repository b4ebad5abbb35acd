"""Who is calling: RS256 JWTs verified locally against the auth service's JWKS.

Keys are cached; a token naming an unknown ``kid`` triggers a refetch (auth rotated its key),
at most once per ``jwks_min_refresh_seconds`` so that made-up kids cannot flood auth. The
algorithm is pinned to RS256 before any key is looked at; exp, iat, iss and aud are required.
A token of a user who has logged out since (its ``ver`` below the user's token version, asked of
auth and cached for a few seconds) is refused.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from common.logs import kv
from common.tokens import ALGORITHM, InvalidToken, decode, signing_kid

log = logging.getLogger("gateway.auth")

# the user id becomes a Kubernetes label value: 63 characters, alphanumerics and -_. inside
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


class KeysUnavailable(Exception):
    """The JWKS could not be fetched and no cached key fits: the world's fault, not the caller's."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    expires_at: float | None = None  # the token's exp (epoch seconds): live streams end there


class JWKSCache:
    """The auth service's public keys by kid, fetched on demand and refreshed when stale."""

    def __init__(
        self, url: str, http: httpx.AsyncClient, ttl: float = 300.0, min_refresh_interval: float = 5.0
    ) -> None:
        self._url = url
        self._http = http
        self._ttl = ttl
        self._min_interval = min_refresh_interval
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")  # monotonic time of the last successful fetch
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Any:
        """The public key for ``kid``; InvalidToken if auth does not publish it,
        KeysUnavailable if auth cannot be asked and the key is not cached."""
        stale = time.monotonic() - self._fetched_at > self._ttl
        if kid not in self._keys or stale:
            await self._refresh(force=kid not in self._keys)
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("The token was not signed by a key the auth service publishes.")
        return key

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._attempted_at < self._min_interval:
                if not self._keys and force:
                    raise KeysUnavailable("The auth service's keys are not available yet; try again.")
                return  # someone just fetched (or failed to): use what we have
            self._attempted_at = now
            try:
                resp = await self._http.get(self._url)
                resp.raise_for_status()
                document = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning(kv(event="jwks.fetch_failed", url=self._url, error=exc))
                if not self._keys:
                    raise KeysUnavailable("The auth service cannot be reached to check tokens.") from exc
                return  # keep trusting the keys we have until auth answers again
            self._keys = parse_jwks(document)
            self._fetched_at = now
            log.info(kv(event="jwks.fetched", keys=len(self._keys)))


def parse_jwks(document: Any) -> dict[str, Any]:
    """RS256 signing keys of a JWKS document by kid; other keys are ignored."""
    keys: dict[str, Any] = {}
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):  # a malformed key: skip it, keep the rest
            log.warning(kv(event="jwks.bad_key", kid=entry["kid"]))
    return keys


class TokenVersions:
    """Each user's token version, from auth's ``GET /users/{id}/token-version``, cached for
    ``ttl`` seconds: how long a logged-out access token can still pass. When auth cannot be
    asked, the last known version stands (or none: tokens verify as before sessions existed)."""

    MAX_CACHED = 50_000

    def __init__(self, auth_url: str, http: httpx.AsyncClient, ttl: float = 5.0) -> None:
        self._auth_url = auth_url.rstrip("/")
        self._http = http
        self._ttl = ttl
        # user -> (monotonic time fetched, version; None: auth knows no such user)
        self._cached: dict[str, tuple[float, int | None]] = {}

    async def current(self, user_id: str) -> int | None:
        now = time.monotonic()
        hit = self._cached.get(user_id)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        try:
            resp = await self._http.get(f"{self._auth_url}/users/{user_id}/token-version")
            # 404: not a user auth knows (a token of other keys the JWKS trusts): no version applies
            version = None if resp.status_code == 404 else int(resp.raise_for_status().json()["version"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning(kv(event="token_version.fetch_failed", user=user_id, error=exc))
            return hit[1] if hit else None
        if len(self._cached) >= self.MAX_CACHED:
            self._cached = {u: v for u, v in self._cached.items() if now - v[0] < self._ttl}
        self._cached[user_id] = (now, version)
        return version


class TokenVerifier:
    def __init__(
        self,
        keys: JWKSCache,
        issuer: str,
        audience: str,
        leeway: float = 10.0,
        versions: TokenVersions | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._versions = versions

    async def verify(self, token: str) -> User:
        kid = signing_kid(token)
        if kid is None:
            raise InvalidToken("The token does not name its signing key (kid).")
        key = await self._keys.key(kid)
        claims = decode(token, key, issuer=self._issuer, audience=self._audience, leeway=self._leeway)
        sub, email = claims["sub"], claims["email"]
        if not isinstance(sub, str) or not _LABEL_VALUE.match(sub):
            raise InvalidToken("The token's subject is not a valid user id.")
        if not isinstance(email, str) or "@" not in email:
            raise InvalidToken("The token's email claim is not an email address.")
        if self._versions is not None:
            current = await self._versions.current(sub)
            version = claims.get("ver", 0)
            if current is not None and (not isinstance(version, int) or version < current):
                raise InvalidToken("This session was logged out; log in again.")
        exp = claims.get("exp")
        return User(id=sub, email=email, expires_at=float(exp) if isinstance(exp, int | float) else None)
