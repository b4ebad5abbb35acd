"""Sessions: a login gives a refresh token that rotates on each use, is stored hashed, is revoked
with its whole family when reused or logged out; logging out raises the token version."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

import jwt
import pymysql
import pytest
from fastapi.testclient import TestClient

from auth.database import parse_mysql_url
from auth.settings import Settings

pytestmark = pytest.mark.devstack

PASSWORD = "correct horse battery staple"


def _login(client: TestClient) -> tuple[str, dict[str, object]]:
    email = f"session-{uuid.uuid4().hex[:8]}@example.com"
    user = client.post("/signup", json={"email": email, "password": PASSWORD}).json()
    resp = client.post("/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return str(user["id"]), resp.json()


def _ver(access_token: str) -> int:
    return int(jwt.decode(access_token, options={"verify_signature": False})["ver"])


def test_a_refresh_token_rotates_and_its_reuse_revokes_the_whole_session(client: TestClient) -> None:
    user_id, first = _login(client)
    assert first["refresh_expires_in"] == 30 * 24 * 3600

    second = client.post("/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    claims = jwt.decode(second.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user_id and claims["ver"] == 0

    replay = client.post("/refresh", json={"refresh_token": first["refresh_token"]})  # a stolen copy
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    # ...and the legitimate successor dies with it: the thief cannot keep the session either
    successor = client.post("/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert successor.status_code == 401 and "logged out" in successor.json()["detail"]


def test_logout_revokes_the_session_and_raises_the_token_version(client: TestClient) -> None:
    user_id, tokens = _login(client)
    assert client.get(f"/users/{user_id}/token-version").json() == {"version": 0}

    assert client.post("/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204

    assert client.get(f"/users/{user_id}/token-version").json() == {"version": 1}
    refused = client.post("/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401 and "logged out" in refused.json()["detail"]
    relogin = client.post(
        "/login",
        json={
            "email": jwt.decode(str(tokens["access_token"]), options={"verify_signature": False})["email"],
            "password": PASSWORD,
        },
    )
    assert _ver(relogin.json()["access_token"]) == 1  # new tokens carry the new version
    assert client.post("/logout", json={"refresh_token": "0" * 32 + ".nope"}).status_code == 401


def test_refresh_tokens_are_stored_only_as_hashes(client: TestClient, settings: Settings) -> None:
    _, tokens = _login(client)
    token_id, _, secret = str(tokens["refresh_token"]).partition(".")
    url = parse_mysql_url(settings.mysql_url.get_secret_value())
    conn = pymysql.connect(
        host=url["host"],
        port=url["port"],
        user=url["user"],
        password=url["password"],
        database=url["database"],
    )
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM refresh_tokens WHERE id = %s", (token_id,))
        row = cur.fetchone()
    conn.close()

    assert row is not None
    assert secret not in [str(v) for v in row]
    assert hashlib.sha256(secret.encode()).hexdigest() in row


def test_an_expired_session_cannot_be_refreshed(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    client = make_client(make_settings(refresh_ttl_seconds=300))
    _, tokens = _login(client)
    url = parse_mysql_url(make_settings().mysql_url.get_secret_value())
    conn = pymysql.connect(
        host=url["host"],
        port=url["port"],
        user=url["user"],
        password=url["password"],
        database=url["database"],
        autocommit=True,
    )
    with conn.cursor() as cur:  # the clock moves on: the token's expiry is in the past
        cur.execute("UPDATE refresh_tokens SET expires_at = expires_at - INTERVAL 301 SECOND")
    conn.close()

    refused = client.post("/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_token_version_of_an_id_we_never_made_is_404_not_500(client: TestClient) -> None:
    """Found by the fuzz test: a user id with a 4-byte UTF-8 character made MySQL refuse the query
    (the id column is ASCII), answered 500."""
    for user_id in ("\U000232b3", "x" * 40, "not-a-user"):
        answer = client.get(f"/users/{user_id}/token-version")
        assert answer.status_code == 404 and answer.json() == {"detail": "No such user."}
