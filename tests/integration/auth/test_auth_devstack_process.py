"""The auth process the devstack runs (uvicorn, port 26001) serves the contract over real HTTP."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest

from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER
from devstack.stack import Stack

pytestmark = pytest.mark.devstack


@pytest.fixture(scope="module")
def auth_url(devstack: Stack) -> Iterator[str]:
    devstack.up(["auth"])  # idempotent: reuses the running one
    yield devstack["auth"].env()["AUTH_URL"]


def test_signup_login_with_curl_basic_and_verify_through_the_jwks_url(auth_url: str) -> None:
    email, password = f"curl-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery staple"
    with httpx.Client(base_url=auth_url, timeout=10) as http:
        created = http.post("/signup", json={"email": email, "password": password})
        assert created.status_code == 201, created.text

        # the seed's clients: curl -X POST $AUTH/login -u email:password
        curl = subprocess.run(
            ["curl", "-sS", "-X", "POST", f"{auth_url}/login", "-u", f"{email}:{password}"],
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(curl.stdout)["access_token"]

        # the gateway's way: PyJWKClient fetches the JWKS over HTTP and picks the key by kid
        signing_key = jwt.PyJWKClient(f"{auth_url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, signing_key.key, algorithms=["RS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER
        )
        assert claims["sub"] == created.json()["id"] and claims["email"] == email

        validated = http.post("/validate", headers={"Authorization": f"Bearer {token}"})
        assert validated.status_code == 200 and validated.json() == claims
        assert http.get("/readyz").json()["checks"]["mysql"] == "ok"
