"""Token verification's key handling: only RS256 signing keys are taken from the JWKS; unknown
kids trigger a (rate-limited) refetch; cached keys keep working while auth is unreachable."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.auth import InvalidToken, JWKSCache, KeysUnavailable, TokenVerifier, parse_jwks

ISS, AUD = "mp4mp3-auth", "mp4mp3"


def _rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, **extra}


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


class JWKSServer:
    """A JWKS document on a real loopback socket; ``keys`` may change, ``up`` may go False."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.up = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if not server.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    server = JWKSServer()
    yield server
    server.close()


def _token(key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "sub": "42",
        "email": "a@example.com",
        "iat": now,
        "exp": now + 60,
        "iss": ISS,
        "aud": AUD,
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def _verify(url: str, token: str, min_refresh: float = 0.0, ttl: float = 300.0) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient() as http:
            verifier = TokenVerifier(
                JWKSCache(url, http, ttl=ttl, min_refresh_interval=min_refresh), ISS, AUD
            )
            return await verifier.verify(token)

    return asyncio.run(run())


def test_only_rs256_signing_keys_are_taken(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    document = {
        "keys": [
            _rsa_jwk(rsa_keys[0], "good", alg="RS256", use="sig"),
            _rsa_jwk(rsa_keys[1], "no-alg"),
            _rsa_jwk(rsa_keys[1], "for-encryption", use="enc"),
            _rsa_jwk(rsa_keys[1], "ps256", alg="PS256"),
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "ec"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "!!"},
            {"kty": "RSA"},
            "nonsense",
        ]
    }
    assert sorted(parse_jwks(document)) == ["good", "no-alg"]
    assert parse_jwks({"nokeys": 1}) == {} and parse_jwks([1, 2]) == {}


def test_a_token_signed_by_a_published_key_verifies(
    jwks: JWKSServer, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    jwks.keys = [_rsa_jwk(rsa_keys[0], "k1")]
    user = _verify(jwks.url, _token(rsa_keys[0], "k1"))
    assert (user.id, user.email) == ("42", "a@example.com")


def test_a_kid_that_auth_does_not_publish_is_refused(
    jwks: JWKSServer, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    jwks.keys = [_rsa_jwk(rsa_keys[0], "k1")]
    with pytest.raises(InvalidToken, match="not signed by a key the auth service publishes"):
        _verify(jwks.url, _token(rsa_keys[1], "k2"))


def test_a_key_signed_with_another_key_under_a_known_kid_is_refused(
    jwks: JWKSServer, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    jwks.keys = [_rsa_jwk(rsa_keys[0], "k1")]
    with pytest.raises(InvalidToken, match="signature does not verify"):
        _verify(jwks.url, _token(rsa_keys[1], "k1"))


def test_auth_unreachable_and_no_cached_key_is_unavailable_not_invalid(jwks: JWKSServer) -> None:
    jwks.up = False
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(KeysUnavailable):
        _verify(jwks.url, _token(key, "k1"))


def test_cached_keys_keep_working_while_auth_is_down_and_refreshes_are_rate_limited(
    jwks: JWKSServer, rsa_keys: list[rsa.RSAPrivateKey]
) -> None:
    jwks.keys = [_rsa_jwk(rsa_keys[0], "k1")]

    async def run() -> tuple[list[str], int]:
        async with httpx.AsyncClient() as http:
            verifier = TokenVerifier(JWKSCache(jwks.url, http, ttl=0.0, min_refresh_interval=60), ISS, AUD)
            seen = [(await verifier.verify(_token(rsa_keys[0], "k1"))).id]
            jwks.up = False  # auth goes away; its keys are stale at once (ttl 0)
            for _ in range(5):
                seen.append((await verifier.verify(_token(rsa_keys[0], "k1"))).id)
                with pytest.raises(InvalidToken):
                    await verifier.verify(_token(rsa_keys[1], "unknown"))
            return seen, jwks.fetches

    seen, fetches = asyncio.run(run())
    assert seen == ["42"] * 6
    assert fetches == 1  # one fetch; the minimum interval stops the stale and unknown-kid refetches


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"alg": "none"}, "must be signed with RS256"),
        ({"alg": "HS256", "kid": "k1"}, "must be signed with RS256"),
        ({"alg": "RS256"}, "does not name its signing key"),
    ],
)
def test_the_algorithm_is_pinned_before_any_key_is_looked_up(
    jwks: JWKSServer, header: dict[str, str], message: str
) -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{b64({'typ': 'JWT', **header})}.{b64({'sub': '42'})}.c2ln"
    with pytest.raises(InvalidToken, match=message):
        _verify(jwks.url, token)
    assert jwks.fetches == 0
