"""Who "a client" is for the throttles: the TCP peer, or the address a trusted proxy (the gateway,
the ingress controller) forwards; and signups limited per client."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from auth.settings import Settings

pytestmark = pytest.mark.devstack

PASSWORD = "correct horse battery staple"
PROXY = "198.51.100.7"  # the make_client fixture's default peer address


def _email() -> str:
    return f"client-{uuid.uuid4().hex[:8]}@example.com"


def _fail_logins(client: TestClient, times: int, forwarded_for: str) -> list[int]:
    return [
        client.post(
            "/login", json={"email": _email(), "password": "x"}, headers={"X-Forwarded-For": forwarded_for}
        ).status_code
        for _ in range(times)
    ]


def test_a_trusted_proxys_forwarded_client_is_throttled_alone(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    settings = make_settings(login_failures_per_client=4, login_failures_per_email=100, trusted_proxies=PROXY)
    proxy = make_client(settings)
    email = _email()
    assert proxy.post("/signup", json={"email": email, "password": PASSWORD}).status_code == 201

    assert _fail_logins(proxy, 4, forwarded_for="203.0.113.1") == [401] * 4

    good = {"email": email, "password": PASSWORD}
    locked = proxy.post("/login", json=good, headers={"X-Forwarded-For": "203.0.113.1"})
    assert locked.status_code == 429
    other = proxy.post("/login", json=good, headers={"X-Forwarded-For": "203.0.113.2"})
    assert other.status_code == 200, other.text  # the proxy's other clients still log in


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    settings = make_settings(login_failures_per_client=4, login_failures_per_email=100, trusted_proxies=PROXY)
    direct = make_client(settings, client_address="203.0.113.50")  # not a proxy: a client itself
    email = _email()
    assert direct.post("/signup", json={"email": email, "password": PASSWORD}).status_code == 201

    # a new made-up address per attempt must not give it a fresh counter each time
    statuses = [_fail_logins(direct, 1, forwarded_for=f"192.0.2.{i}")[0] for i in range(4)]

    assert statuses == [401] * 4
    resp = direct.post(
        "/login", json={"email": email, "password": PASSWORD}, headers={"X-Forwarded-For": "192.0.2.99"}
    )
    assert resp.status_code == 429


def test_signups_are_limited_per_client_taken_addresses_included(
    make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    settings = make_settings(signups_per_client=3, signup_window_seconds=3600)
    farmer = make_client(settings, client_address="203.0.113.70")
    neighbour = make_client(settings, client_address="203.0.113.71")
    taken = _email()

    statuses = [
        farmer.post("/signup", json={"email": address, "password": PASSWORD}).status_code
        for address in (taken, taken, _email())
    ]
    refused = farmer.post("/signup", json={"email": _email(), "password": PASSWORD})
    probe = farmer.post("/signup", json={"email": taken, "password": PASSWORD})

    assert statuses == [201, 409, 201]
    assert refused.status_code == 429 and probe.status_code == 429  # no more 409s to probe with
    assert refused.json()["detail"].startswith("Too many signups from this client (the limit is 3 per hour)")
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert neighbour.post("/signup", json={"email": _email(), "password": PASSWORD}).status_code == 201
