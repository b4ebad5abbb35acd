"""Who may do what: a token verified against the JWKS is needed everywhere but health and login,
and another user's job is answered exactly like a job that does not exist, on every route."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from devstack.process import wait_until as wait_for
from tests.support.gateway_harness import GatewayProcess, MiB, TestKeys, hs256_with_public_key, mp4_like
from tests.support.gateway_world import GatewayWorld, User

pytestmark = pytest.mark.devstack


def _upload(http: httpx.Client, gateway: GatewayProcess, user: User) -> str:
    data = b"".join(mp4_like(MiB)[0])
    resp = http.post(f"{gateway.url}/jobs", headers=user.headers, files={"file": ("mine.mp4", data)})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def test_another_users_job_is_404_on_every_route_exactly_like_a_missing_one(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    alice, bob = signup(), signup()
    job_id = _upload(http, gateway, alice)
    world.complete(job_id, b"ID3" + bytes(5000), owner=alice.id)  # so that there is an MP3 to steal
    missing = "cj-" + "0" * 24

    def answers(user: User, jid: str) -> list[tuple[int, dict[str, str]]]:
        calls = [
            http.get(f"{gateway.url}/jobs/{jid}", headers=user.headers),
            http.get(f"{gateway.url}/jobs/{jid}/mp3", headers=user.headers),
            http.get(f"{gateway.url}/download", params={"fid": jid}, headers=user.headers),
            http.delete(f"{gateway.url}/jobs/{jid}", headers=user.headers),
        ]
        return [(r.status_code, r.json()) for r in calls]

    stolen = answers(bob, job_id)
    absent = answers(bob, missing)

    assert [code for code, _ in stolen] == [404, 404, 404, 404]
    assert [body for _, body in stolen] == [{"detail": f"No job with id {job_id}."}] * 4
    assert [body for _, body in absent] == [{"detail": f"No job with id {missing}."}] * 4
    assert http.get(f"{gateway.url}/jobs", headers=bob.headers).json()["total"] == 0
    # and alice still has all of it
    assert world.conversionjob(job_id) is not None
    assert http.get(f"{gateway.url}/jobs/{job_id}/mp3", headers=alice.headers).status_code == 200
    assert http.get(f"{gateway.url}/jobs", headers=alice.headers).json()["total"] == 1


def test_every_route_but_health_and_login_needs_a_token(gateway: GatewayProcess, http: httpx.Client) -> None:
    job = "cj-" + "1" * 24
    calls = [
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", f"/jobs/{job}"),
        ("GET", f"/jobs/{job}/mp3"),
        ("DELETE", f"/jobs/{job}"),
        ("POST", "/upload"),
        ("GET", f"/download?fid={job}"),
    ]
    for method, path in calls:
        resp = http.request(method, gateway.url + path)
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert "bearer token" in resp.json()["detail"]
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert http.get(gateway.url + path).status_code == 200


@pytest.fixture(scope="module")
def own_keys_gateway(
    start_gateway: Callable[..., GatewayProcess], test_keys: TestKeys
) -> Iterator[GatewayProcess]:
    """A gateway trusting our own JWKS server (so tokens can be forged in every wrong way)."""
    yield start_gateway(GATEWAY_JWKS_URL=test_keys.url, GATEWAY_JWKS_MIN_REFRESH_SECONDS="1")


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (lambda k: k.token("key-1", exp=int(time.time()) - 120), "The token has expired; log in again."),
        (lambda k: k.token("key-1", aud="someone-else"), "The token was issued for another audience."),
        (lambda k: k.token("key-1", iss="evil-auth"), "The token was issued by another issuer."),
        (lambda k: k.token("key-1", exp=None), "The token lacks the 'exp' claim."),
        (lambda k: k.token("key-1", email=None), "The token lacks the 'email' claim."),
        (lambda k: k.token("key-1", sub="a b/c"), "The token's subject is not a valid user id."),
        (lambda k: hs256_with_public_key(k, "key-1"), "The token must be signed with RS256."),
        (lambda k: k.token("key-1")[:-8] + "AAAAAAAA", "The token's signature does not verify."),
        (lambda k: "not.a.jwt", "The token is malformed."),
    ],
    ids=[
        "expired",
        "audience",
        "issuer",
        "no-exp",
        "no-email",
        "bad-sub",
        "hs256-confusion",
        "signature",
        "garbage",
    ],
)
def test_a_wrong_token_is_401_with_the_reason(
    own_keys_gateway: GatewayProcess,
    test_keys: TestKeys,
    http: httpx.Client,
    token: Callable[[TestKeys], str],
    detail: str,
) -> None:
    resp = http.get(f"{own_keys_gateway.url}/jobs", headers={"Authorization": f"Bearer {token(test_keys)}"})

    assert resp.status_code == 401
    assert resp.json() == {"detail": detail}


def test_a_good_token_of_our_own_keys_is_accepted(
    own_keys_gateway: GatewayProcess, test_keys: TestKeys, http: httpx.Client
) -> None:
    resp = http.get(
        f"{own_keys_gateway.url}/jobs", headers={"Authorization": f"Bearer {test_keys.token('key-1')}"}
    )

    assert resp.status_code == 200, resp.text
    assert resp.json()["items"] == []


def test_a_rotated_key_is_fetched_when_a_token_names_it(
    own_keys_gateway: GatewayProcess, test_keys: TestKeys, http: httpx.Client
) -> None:
    test_keys.add("key-2", publish=False)
    token = test_keys.token("key-2")
    url = f"{own_keys_gateway.url}/jobs"

    before = http.get(url, headers={"Authorization": f"Bearer {token}"})
    test_keys.publish("key-2")  # auth rotated: the new key is in its JWKS now
    fetches = test_keys.fetches
    after = wait_for(
        lambda: (r := http.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 200 and r,
        10,
        "the gateway to fetch the new key",
        interval=0.3,
    )

    assert before.status_code == 401
    assert before.json()["detail"] == "The token was not signed by a key the auth service publishes."
    assert after.status_code == 200
    assert test_keys.fetches > fetches


def test_unknown_kids_cannot_make_the_gateway_hammer_auth(
    own_keys_gateway: GatewayProcess, test_keys: TestKeys, http: httpx.Client
) -> None:
    test_keys.add("never-published", publish=False)
    token = test_keys.token("never-published")
    fetches = test_keys.fetches

    answers = [
        http.get(f"{own_keys_gateway.url}/jobs", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(30)
    ]

    assert set(answers) == {401}
    assert test_keys.fetches - fetches <= 2  # at most one fetch per second (the test takes ~1 s)
