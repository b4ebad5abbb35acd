"""The auth API against the devstack's MariaDB: accounts, logins, tokens others can verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pymysql
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from auth.app import create_app
from auth.database import parse_mysql_url
from auth.keys import KeyRing, load_ring, thumbprint
from auth.migrations import LATEST
from auth.settings import Settings

pytestmark = pytest.mark.devstack

PASSWORD = "correct horse battery staple"
ISS, AUD = "mp4mp3-auth", "mp4mp3"


# --- helpers -------------------------------------------------------------------------------------


def _email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def _signup(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = client.post("/signup", json={"email": email, "password": password})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    resp = client.post("/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


def _verify_with_jwks(client: TestClient, token: str) -> dict[str, Any]:
    """What the gateway does: fetch the JWKS once, pick the key by kid, verify locally."""
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(token).get("kid")
    key = next((k for k in jwks.keys if k.key_id == kid), None)
    if key is None:
        raise jwt.InvalidTokenError(f"unknown kid {kid!r}")
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=AUD, issuer=ISS, options={"require": ["exp", "sub"]}
    )
    return claims


def _db(settings: Settings) -> pymysql.connections.Connection:
    return pymysql.connect(**parse_mysql_url(settings.mysql_url.get_secret_value()), autocommit=True)


def _ring(settings: Settings) -> KeyRing:
    return load_ring(settings.keys_dir)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], signature: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signature(signing_input.encode()))}"


def _claims(sub: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": sub, "email": "a@example.com", "iat": now, "exp": now + 300, "iss": ISS, "aud": AUD}
    return {**claims, **overrides}


def _signed(ring: KeyRing, claims: dict[str, Any]) -> str:
    assert ring.signer.private is not None
    return jwt.encode(claims, ring.signer.private, algorithm="RS256", headers={"kid": ring.signer.kid})


def _expired(ring: KeyRing, sub: str) -> str:
    past = int(time.time()) - 3600
    return _signed(ring, _claims(sub, iat=past, exp=past + 60))


def _other_key_same_kid(ring: KeyRing, sub: str) -> str:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(sub), stranger, algorithm="RS256", headers={"kid": ring.signer.kid})


def _other_key_own_kid(ring: KeyRing, sub: str) -> str:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = thumbprint(stranger.public_key())
    return jwt.encode(_claims(sub), stranger, algorithm="RS256", headers={"kid": kid})


def _alg_none(ring: KeyRing, sub: str) -> str:
    return _compact({"alg": "none", "typ": "JWT", "kid": ring.signer.kid}, _claims(sub), lambda _: b"")


def _hs256_with_public_key(ring: KeyRing, sub: str) -> str:
    pem = ring.signer.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _compact(
        {"alg": "HS256", "typ": "JWT", "kid": ring.signer.kid},
        _claims(sub),
        lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )


def _wrong_audience(ring: KeyRing, sub: str) -> str:
    return _signed(ring, _claims(sub, aud="another-service"))


def _wrong_issuer(ring: KeyRing, sub: str) -> str:
    return _signed(ring, _claims(sub, iss="https://evil.example"))


def _tampered_claims(ring: KeyRing, sub: str) -> str:
    header, _, signature = _signed(ring, _claims(sub)).split(".")
    payload = _b64(json.dumps(_claims("someone-else")).encode())
    return f"{header}.{payload}.{signature}"


# --- signup, login, tokens -------------------------------------------------------------------------


def test_signup_then_login_by_json_and_basic_gives_tokens_that_verify_with_the_jwks(
    client: TestClient,
) -> None:
    email = _email("ada")
    user = _signup(client, email)
    assert set(user) == {"id", "email"} and user["email"] == email

    by_json = client.post("/login", json={"email": email, "password": PASSWORD})
    by_basic = client.post("/login", auth=(email, PASSWORD))  # curl -X POST $AUTH/login -u email:pw

    for resp in (by_json, by_basic):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 900
        assert resp.headers["cache-control"] == "no-store"
        claims = _verify_with_jwks(client, body["access_token"])
        assert claims["sub"] == user["id"] and claims["email"] == email
        assert claims["exp"] - claims["iat"] == 900
        assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"


def test_jwks_publishes_rs256_signing_keys_with_kids(client: TestClient) -> None:
    resp = client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    (key,) = resp.json()["keys"]
    assert {"kty": "RSA", "alg": "RS256", "use": "sig"}.items() <= key.items()
    assert key["kid"] and "d" not in key


def test_validate_returns_the_claims_of_a_valid_token(client: TestClient) -> None:
    email = _email()
    user = _signup(client, email)
    token = _login(client, email)
    resp = client.post("/validate", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.json() == _verify_with_jwks(client, token)
    assert resp.json()["sub"] == user["id"] and resp.json()["iss"] == ISS and resp.json()["aud"] == AUD


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (_expired, "expired"),
        (_other_key_same_kid, "signature"),
        (_other_key_own_kid, "not signed by a key this service publishes"),
        (_alg_none, "RS256"),
        (_hs256_with_public_key, "RS256"),
        (_wrong_audience, "audience"),
        (_wrong_issuer, "issuer"),
        (_tampered_claims, "signature"),
    ],
    ids=lambda v: getattr(v, "__name__", "").strip("_") or None,
)
def test_bad_tokens_are_rejected_by_validate_and_by_jwks_verification(
    client: TestClient, settings: Settings, forge: Callable[[KeyRing, str], str], reason: str
) -> None:
    user = _signup(client, _email())
    token = forge(_ring(settings), user["id"])

    resp = client.post("/validate", headers={"Authorization": f"Bearer {token}"})

    assert resp.status_code == 401
    assert reason in resp.json()["detail"]
    assert resp.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(jwt.InvalidTokenError):
        _verify_with_jwks(client, token)


def test_validate_without_a_bearer_token_is_401_with_a_hint(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}, {"Authorization": "Bearer"}):
        resp = client.post("/validate", headers=headers)
        assert resp.status_code == 401
        assert "Authorization: Bearer" in resp.json()["detail"]


def test_a_key_added_to_the_folder_signs_new_tokens_while_old_tokens_still_verify(
    client: TestClient, settings: Settings
) -> None:
    email = _email()
    _signup(client, email)
    old_token = _login(client, email)
    newer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (settings.keys_dir / "zzzz-rotated.pem").write_bytes(
        newer.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    new_token = _login(client, email)

    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert jwt.get_unverified_header(new_token)["kid"] == thumbprint(newer.public_key())
    assert jwt.get_unverified_header(old_token)["kid"] in kids and len(kids) == 2
    for token in (old_token, new_token):
        assert client.post("/validate", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        _verify_with_jwks(client, token)


# --- accounts ----------------------------------------------------------------------------------------


def test_duplicate_email_in_another_case_is_409(client: TestClient) -> None:
    email = _email("Grace.Hopper")
    _signup(client, email)
    resp = client.post("/signup", json={"email": email.upper(), "password": "another good password"})
    assert resp.status_code == 409
    assert resp.json() == {"detail": "An account with this email already exists."}
    # and the original account is untouched
    _login(client, email.lower())


def test_sql_metacharacters_in_email_and_password_are_stored_and_matched_literally(
    client: TestClient, settings: Settings
) -> None:
    email = f"x';DROP/**/TABLE/**/users;--{uuid.uuid4().hex[:6]}@example.com"
    password = "p' OR '1'='1'; DROP TABLE users; -- \" \\ % _ `"
    user = _signup(client, email, password)

    assert _verify_with_jwks(client, _login(client, email, password))["sub"] == user["id"]
    for wrong in ("' OR '1'='1", "p' OR '1'='1'; --", "%", "_"):
        assert client.post("/login", json={"email": email, "password": wrong}).status_code == 401
    for injected in ("' OR '1'='1' -- @example.com", "' OR 1=1 #", "%@example.com", "x%"):
        assert client.post("/login", json={"email": injected, "password": password}).status_code == 401
    with _db(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT email FROM users")
        assert cur.fetchall() == ((email,),)


def test_stored_password_column_never_equals_or_contains_the_password(
    client: TestClient, settings: Settings
) -> None:
    passwords = ["correct horse battery staple", "ünïcödé pässwörd 42", "$argon2id$v=19$m=1,t=1,p=1$x"]
    for password in passwords:
        _signup(client, _email(), password)

    with _db(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM users")
        rows = cur.fetchall()
        cur.execute("SELECT password_hash FROM users")
        hashes = [row[0] for row in cur.fetchall()]

    assert len(rows) == 3
    assert all(h.startswith("$argon2id$") for h in hashes)
    for password in passwords:
        assert password not in hashes
        assert not any(password in str(value) for row in rows for value in row)


def test_password_policy_violations_get_a_clear_422_that_does_not_echo_the_password(
    client: TestClient,
) -> None:
    secret = "abab"
    resp = client.post("/signup", json={"email": _email(), "password": secret})
    assert resp.status_code == 422
    (error,) = resp.json()["detail"]
    assert error["loc"] == ["body", "password"]
    assert error["msg"] == "The password must be at least 10 characters long."

    too_long = "x1y2z3" * 200
    resp = client.post("/signup", json={"email": _email(), "password": too_long})
    assert resp.status_code == 422
    assert too_long not in resp.text


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, ["body", "email"]),
        ({"email": "a@example.com"}, ["body", "password"]),
        ({"email": 42, "password": PASSWORD}, ["body", "email"]),
        ("not json at all", ["body"]),
    ],
)
def test_malformed_signups_get_422_naming_the_field(client: TestClient, body: Any, loc: list[str]) -> None:
    if isinstance(body, str):
        resp = client.post("/signup", content=body, headers={"Content-Type": "application/json"})
    else:
        resp = client.post("/signup", json=body)
    assert resp.status_code == 422
    assert any(e["loc"][: len(loc)] == loc and e["msg"] for e in resp.json()["detail"])
    assert PASSWORD not in resp.text


# --- login failures and throttling -----------------------------------------------------------------


def test_wrong_password_and_unknown_email_get_the_same_generic_401(client: TestClient) -> None:
    email = _email()
    _signup(client, email)
    wrong_password = client.post("/login", json={"email": email, "password": "not the password"})
    unknown_email = client.post("/login", json={"email": _email("nobody"), "password": PASSWORD})
    basic_wrong = client.post("/login", auth=(email, "nope"))
    for resp in (wrong_password, unknown_email, basic_wrong):
        assert resp.status_code == 401
        assert resp.json() == {"detail": "Wrong email or password."}
        assert resp.headers["www-authenticate"].startswith("Basic")


def test_unknown_email_costs_as_much_time_as_a_wrong_password(client: TestClient) -> None:
    email = _email()
    _signup(client, email)

    def seconds(login_email: str) -> float:
        start = time.perf_counter()
        assert client.post("/login", json={"email": login_email, "password": "wrong!"}).status_code == 401
        return time.perf_counter() - start

    seconds(_email("ghost"))  # the first unknown email makes the dummy hash it is checked against, once
    ghost = _email("ghost")
    # in turns, so that the machine's load (other tests beside this one) weighs on both alike; five
    # each, as the throttle allows (a sixth failure of one email is answered 429)
    pairs = [(seconds(email), seconds(ghost)) for _ in range(5)]
    known, unknown = (statistics.median(times) for times in zip(*pairs, strict=True))
    # both run one argon2id verification; a shortcut for unknown emails would be ~100x faster
    assert 0.4 < unknown / known < 2.5, (known, unknown)


def test_login_without_credentials_or_with_malformed_basic_is_401(client: TestClient) -> None:
    assert client.post("/login").status_code == 401
    resp = client.post("/login", headers={"Authorization": "Basic !!!not-base64"})
    assert resp.status_code == 401 and "Malformed HTTP Basic" in resp.json()["detail"]


def test_basic_auth_accepts_utf8_passwords(client: TestClient) -> None:
    email, password = _email(), "pässwörd-ñandú-42"
    _signup(client, email, password)
    encoded = base64.b64encode(f"{email}:{password}".encode()).decode()
    resp = client.post("/login", headers={"Authorization": f"Basic {encoded}"})
    assert resp.status_code == 200, resp.text


def test_repeated_failures_for_one_email_get_429_even_with_the_right_password(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    client = make_client(make_settings(login_failures_per_email=3, login_lockout_seconds=120))
    email, other = _email("victim"), _email("bystander")
    _signup(client, email)
    _signup(client, other)

    statuses = [
        client.post("/login", json={"email": email, "password": "guess"}).status_code for _ in range(3)
    ]
    locked = client.post("/login", json={"email": email.upper(), "password": PASSWORD})

    assert statuses == [401, 401, 401]
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 120
    assert "try again in" in locked.json()["detail"]
    _login(client, other)  # another account from the same client is unaffected


def test_repeated_failures_from_one_client_get_429_for_any_email(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    settings = make_settings(login_failures_per_client=4, login_failures_per_email=100)
    guesser = make_client(settings, client_address="203.0.113.66")
    someone_else = make_client(settings, client_address="203.0.113.99")
    email = _email()
    _signup(someone_else, email)

    statuses = [
        guesser.post("/login", json={"email": _email(), "password": "x"}).status_code for _ in range(4)
    ]

    assert statuses == [401] * 4
    assert guesser.post("/login", json={"email": email, "password": PASSWORD}).status_code == 429
    _login(someone_else, email)


def test_a_successful_login_clears_the_failures_of_its_email(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    client = make_client(make_settings(login_failures_per_email=3, login_failures_per_client=100))
    email = _email()
    _signup(client, email)
    for _ in range(2):
        assert client.post("/login", json={"email": email, "password": "typo"}).status_code == 401
    _login(client, email)
    for _ in range(2):
        assert client.post("/login", json={"email": email, "password": "typo"}).status_code == 401
    _login(client, email)  # 4 failures in all, never 3 in a row: not locked


def test_throttle_table_never_holds_the_tried_emails(client: TestClient, settings: Settings) -> None:
    tried = "password-typed-in-the-email-field"
    client.post("/login", json={"email": tried, "password": "x"})
    with _db(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM login_throttle")
        rows = cur.fetchall()
    assert rows and not any(tried in str(value) for row in rows for value in row)


# --- schema, health, OpenAPI -------------------------------------------------------------------------


def test_migrations_run_once_and_a_restart_keeps_the_users(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    first = make_client(settings)
    email = _email()
    _signup(first, email)
    with _db(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        before = cur.fetchall()

    second = make_client(settings)  # a second replica / a restart on the same database

    _login(second, email)
    with _db(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        assert cur.fetchall() == before
    assert [v for v, _ in before] == list(range(1, LATEST + 1))


def test_connections_are_pooled_and_all_closed_at_shutdown(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(mysql_pool_size=3, login_failures_per_email=1000, signups_per_client=1000)
    database = parse_mysql_url(settings.mysql_url.get_secret_value())["database"]

    def open_connections() -> int:
        with _db(settings) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
                (database,),
            )
            row = cur.fetchone()
            assert row is not None
            return int(row[0])

    email = _email()
    with TestClient(create_app(settings)) as client:
        _signup(client, email)
        for i in range(30):  # successes, failures, conflicts and invalid input alike
            expected = 200 if i % 2 else 401
            assert (
                client.post(
                    "/login", json={"email": email, "password": PASSWORD if i % 2 else "x"}
                ).status_code
                == expected
            )
            assert client.post("/signup", json={"email": email, "password": PASSWORD}).status_code == 409
            assert client.post("/signup", json={"email": email, "password": "short"}).status_code == 422
            assert client.get("/readyz").status_code == 200
        assert 1 <= open_connections() <= 3

    assert open_connections() == 0  # the app's shutdown closed every connection it kept


def test_health_readiness_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["mysql"] == "ok"
    spec = client.get("/openapi.json").json()
    assert {"/signup", "/login", "/validate", "/.well-known/jwks.json", "/healthz", "/readyz"} <= set(
        spec["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_the_service_refuses_to_start_without_a_signing_key(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    empty = tmp_path / "no-keys"
    empty.mkdir()
    with pytest.raises(Exception, match="AUTH_GENERATE_KEYS"):
        make_client(make_settings(keys_dir=empty))
