"""Token issue and verification: only our RS256 tokens, for our audience, unexpired, pass."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth.keys import KeyRing, generate_key, load_ring
from auth.tokens import InvalidToken, issue, verify

ISS, AUD = "mp4mp3-auth", "mp4mp3"


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    folder: Path = tmp_path_factory.mktemp("keys")
    generate_key(folder)
    return load_ring(folder)


def _verify(token: str, ring: KeyRing, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"ring": ring, "issuer": ISS, "audience": AUD, "leeway": 5, **overrides}
    return verify(token, **args)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "u1",
        "email": "a@example.com",
        "iat": now,
        "exp": now + 300,
        "iss": ISS,
        "aud": AUD,
        **overrides,
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{_b64(signature)}"


def test_issued_token_verifies_and_carries_the_contract_claims(ring: KeyRing) -> None:
    issued = issue(user_id="42abc", email="a@example.com", ring=ring, issuer=ISS, audience=AUD, ttl=600)
    assert issued.expires_in == 600
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "RS256" and header["kid"] == ring.signer.kid
    claims = _verify(issued.token, ring)
    assert claims["sub"] == "42abc" and claims["email"] == "a@example.com"
    assert claims["iss"] == ISS and claims["aud"] == AUD
    assert claims["exp"] - claims["iat"] == 600


def test_expired_token_is_rejected(ring: KeyRing) -> None:
    old = int(time.time()) - 3600
    token = issue(user_id="u", email="e@x.io", ring=ring, issuer=ISS, audience=AUD, ttl=60, now=old).token
    with pytest.raises(InvalidToken, match="expired"):
        _verify(token, ring)


def test_token_signed_by_another_key_is_rejected_even_with_our_kid(ring: KeyRing) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": ring.signer.kid})
    with pytest.raises(InvalidToken, match="signature"):
        _verify(forged, ring)
    unknown_kid = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": "someone-elses"})
    with pytest.raises(InvalidToken, match="not signed by a key this service publishes"):
        _verify(unknown_kid, ring)


def test_alg_none_is_rejected(ring: KeyRing) -> None:
    token = _compact({"alg": "none", "typ": "JWT", "kid": ring.signer.kid}, _claims())
    with pytest.raises(InvalidToken, match="RS256"):
        _verify(token, ring)


def test_hs256_signed_with_our_public_key_is_rejected(ring: KeyRing) -> None:
    public_pem = ring.signer.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _compact(
        {"alg": "HS256", "typ": "JWT", "kid": ring.signer.kid},
        _claims(),
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )
    with pytest.raises(InvalidToken, match="RS256"):
        _verify(token, ring)


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [("aud", "someone-else", "audience"), ("iss", "evil-issuer", "issuer")],
)
def test_wrong_audience_or_issuer_is_rejected(ring: KeyRing, claim: str, value: str, reason: str) -> None:
    assert ring.signer.private is not None
    token = jwt.encode(
        _claims(**{claim: value}), ring.signer.private, algorithm="RS256", headers={"kid": ring.signer.kid}
    )
    with pytest.raises(InvalidToken, match=reason):
        _verify(token, ring)


@pytest.mark.parametrize("missing", ["sub", "email", "exp", "iat", "aud", "iss"])
def test_a_token_without_a_required_claim_is_rejected(ring: KeyRing, missing: str) -> None:
    assert ring.signer.private is not None
    claims = _claims()
    del claims[missing]
    token = jwt.encode(claims, ring.signer.private, algorithm="RS256", headers={"kid": ring.signer.kid})
    with pytest.raises(InvalidToken):
        _verify(token, ring)


def test_a_token_issued_in_the_future_is_rejected(ring: KeyRing) -> None:
    future = int(time.time()) + 3600
    token = issue(user_id="u", email="e@x.io", ring=ring, issuer=ISS, audience=AUD, ttl=600, now=future).token
    with pytest.raises(InvalidToken):
        _verify(token, ring)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "Bearer x.y.z"])
def test_garbage_is_rejected_cleanly(ring: KeyRing, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        _verify(garbage, ring)
