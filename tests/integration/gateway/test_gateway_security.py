"""The gateway as a target: failed logins through it lock out only their own client; oversized
and stalled uploads are cut off early and leave nothing behind; ..."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from devstack.process import wait_until as wait_for
from tests.support.gateway_harness import GatewayProcess, MiB, mp4_like
from tests.support.gateway_world import GatewayWorld, User

pytestmark = pytest.mark.devstack


def _address() -> str:
    """A documentation-range address of its own per run: auth's counters outlive the test."""
    return f"203.0.113.{secrets.randbelow(250) + 1}"


def test_failed_logins_through_the_gateway_lock_out_only_their_client(
    start_gateway: Callable[..., GatewayProcess], world: GatewayWorld, http: httpx.Client
) -> None:
    # the test plays an ingress controller in front of the gateway, naming two clients
    gateway = start_gateway(GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    email, password = f"gw-{secrets.token_hex(5)}@mp4mp3.localhost", secrets.token_urlsafe(16)
    assert (
        http.post(f"{world.auth_url}/signup", json={"email": email, "password": password}).status_code == 201
    )
    guesser, bystander = _address(), _address()
    while bystander == guesser:
        bystander = _address()
    login = f"{gateway.url}/login"

    failures = [
        http.post(
            login, auth=(f"nobody-{i}@mp4mp3.localhost", "wrong"), headers={"X-Forwarded-For": guesser}
        ).status_code
        for i in range(21)  # auth's default: 20 failures per client
    ]
    locked = http.post(login, auth=(email, password), headers={"X-Forwarded-For": guesser})
    other = http.post(login, auth=(email, password), headers={"X-Forwarded-For": bystander})

    assert failures[:20] == [401] * 20 and failures[20] == 429
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert other.status_code == 200, other.text


# --- uploads refused early ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """A gateway with a 4 MiB cap and a 2 s idle timeout (the defaults: 4 GiB and 60 s)."""
    return start_gateway(
        GATEWAY_MAX_UPLOAD_BYTES=str(4 * MiB),
        GATEWAY_UPLOAD_IDLE_TIMEOUT_SECONDS="2",
        GATEWAY_REJECT_LINGER_SECONDS="1",
    )


def _head(user: User, *, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /jobs HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {user.token}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\n{framing}\r\n\r\n"
    ).encode()


FILE_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n\r\n'


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer_and_close(sock: socket.socket, timeout: float) -> tuple[bytes, float, float]:
    """Everything the server sends until it closes: (bytes, seconds to the first byte, to the close)."""
    started = time.monotonic()
    sock.settimeout(timeout)
    answer, first = b"", 0.0
    while True:
        data = sock.recv(65536)
        if not data:
            return answer, first, time.monotonic() - started
        if not answer:
            first = time.monotonic() - started
        answer += data


def test_a_declared_size_over_the_cap_is_answered_at_once_and_closed_unread(
    strict_gateway: GatewayProcess, signup: Callable[[], User]
) -> None:
    user = signup()
    with socket.create_connection(("127.0.0.1", strict_gateway.port)) as sock:
        sock.sendall(_head(user, length=6 * MiB))  # 6 MiB announced, not one byte of it sent
        answer, first, closed = _answer_and_close(sock, timeout=15)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower()
    assert answer.endswith(b'{"detail":"The video is larger than the limit of 4 MiB."}')
    assert first < 1.0 and closed < 4.0  # no waiting for the body: answered, lingered 1 s, closed


def test_a_chunked_upload_passing_the_cap_is_answered_then_and_leaves_nothing(
    strict_gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User]
) -> None:
    user = signup()
    before = world.stored(user.id)
    data = b"".join(mp4_like(5 * MiB)[0])
    with socket.create_connection(("127.0.0.1", strict_gateway.port)) as sock:
        sock.sendall(_head(user, length=None) + _chunked(FILE_PART))
        for offset in range(0, len(data), MiB):
            sock.sendall(_chunked(data[offset : offset + MiB]))
        # 5 MiB sent, the body not ended: the client would go on sending gigabytes
        answer, first, closed = _answer_and_close(sock, timeout=15)

    assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
    assert b"The video is larger than the limit of 4 MiB." in answer
    assert first < 2.0 and closed < 5.0
    wait_for(lambda: world.stored(user.id) == before, 10, "the partial upload to be removed")


def test_a_stalled_upload_is_cut_off_and_its_chunks_removed(
    strict_gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User]
) -> None:
    user = signup()
    before = world.stored(user.id)
    data = b"".join(mp4_like(3 * MiB)[0])
    with socket.create_connection(("127.0.0.1", strict_gateway.port)) as sock:
        sock.sendall(_head(user, length=4 * MiB) + FILE_PART + data)
        wait_for(lambda: world.stored(user.id)["chunks"] > before["chunks"], 30, "chunks to be written")
        # then nothing more: the client hangs
        answer, _, closed = _answer_and_close(sock, timeout=20)

    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer.lower()
    assert b"The upload stalled: nothing arrived for 2 seconds." in answer
    assert closed < 10.0
    wait_for(lambda: world.stored(user.id) == before, 10, "the stalled upload to be removed")


# --- headers and CORS -----------------------------------------------------------------------------


def test_answers_carry_security_headers_and_cors_is_closed_by_default(
    gateway: GatewayProcess, http: httpx.Client
) -> None:
    evil = "https://evil.example"
    answers = {
        "json": http.get(f"{gateway.url}/healthz", headers={"Origin": evil}),
        "error": http.get(f"{gateway.url}/jobs", headers={"Origin": evil}),
        "page": http.get(f"{gateway.url}/docs"),
    }
    preflight = http.options(
        f"{gateway.url}/jobs",
        headers={
            "Origin": evil,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )

    assert [a.status_code for a in answers.values()] == [200, 401, 200]
    for answer in answers.values():
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "access-control-allow-origin" not in answer.headers
    assert answers["json"].headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answers["error"].headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answers["page"].headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "strict-transport-security" not in answers["json"].headers  # plain http here
    assert preflight.status_code >= 400 and "access-control-allow-origin" not in preflight.headers


def test_cors_admits_only_the_configured_origins(
    start_gateway: Callable[..., GatewayProcess], signup: Callable[[], User], http: httpx.Client
) -> None:
    gateway = start_gateway(GATEWAY_CORS_ORIGINS="https://app.example, https://other.example")
    user = signup()
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}

    allowed = http.options(f"{gateway.url}/jobs", headers={"Origin": "https://app.example", **ask})
    refused = http.options(f"{gateway.url}/jobs", headers={"Origin": "https://evil.example", **ask})
    listed = http.get(f"{gateway.url}/jobs", headers={"Origin": "https://other.example", **user.headers})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "https://other.example"
    assert "location" in listed.headers["access-control-expose-headers"].lower()
    assert listed.headers["x-content-type-options"] == "nosniff"
