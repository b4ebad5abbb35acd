"""The gateway as a target: failed logins through it lock out only their own client; oversized
and stalled uploads are cut off early and leave nothing behind; ..."""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from bson import ObjectId

from common import links
from devstack.process import wait_until as wait_for
from tests.support.cli_harness import Cli, new_account
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


def test_failed_web_page_sign_ins_lock_out_only_their_client(
    start_gateway: Callable[..., GatewayProcess], world: GatewayWorld, http: httpx.Client
) -> None:
    """POST /session (the web page's sign-in) names its client to auth as /login does (found by
    the fuzz test: its failures locked out every sign-in through the gateway)."""
    gateway = start_gateway(GATEWAY_TRUSTED_PROXIES="127.0.0.1")  # behind a (played) ingress
    email, password = f"gw-{secrets.token_hex(5)}@mp4mp3.localhost", secrets.token_urlsafe(16)
    assert (
        http.post(f"{world.auth_url}/signup", json={"email": email, "password": password}).status_code == 201
    )
    guesser, bystander = _address(), _address()
    while bystander == guesser:
        bystander = _address()
    sign_in = f"{gateway.url}/session"

    failures = [
        http.post(
            sign_in,
            json={"email": f"nobody-{i}@mp4mp3.localhost", "password": "wrong"},
            headers={"X-Forwarded-For": guesser},
        ).status_code
        for i in range(21)  # auth's default: 20 failures per client
    ]
    other = http.post(
        sign_in, json={"email": email, "password": password}, headers={"X-Forwarded-For": bystander}
    )

    assert failures[:20] == [401] * 20 and failures[20] == 429
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


def test_chunks_of_an_upload_whose_gateway_was_killed_are_swept_by_a_gateway(
    start_gateway: Callable[..., GatewayProcess],
    gateway: GatewayProcess,
    world: GatewayWorld,
    signup: Callable[[], User],
    http: httpx.Client,
) -> None:
    user = signup()
    stored = http.post(
        f"{gateway.url}/jobs", headers=user.headers, files={"file": ("kept.mp4", b"".join(mp4_like(MiB)[0]))}
    )
    assert stored.status_code == 202, stored.text
    kept = world.db["videos.files"].find_one({"metadata.owner": user.id})
    assert kept is not None
    chunks = world.db["videos.chunks"]
    # the killed upload's file id: begun from now on (ids count whole seconds), and not the kept one
    since = ObjectId.from_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    begun = {"files_id": {"$gt": since, "$ne": kept["_id"]}}

    doomed = start_gateway(GATEWAY_ORPHAN_SWEEP_SECONDS="0")
    data = b"".join(mp4_like(3 * MiB)[0])
    with socket.create_connection(("127.0.0.1", doomed.port)) as sock:
        sock.sendall(_head(user, length=8 * MiB) + FILE_PART + data)
        wait_for(lambda: chunks.count_documents(begun), 30, "chunks to be written")
        assert doomed.proc is not None
        doomed.proc.kill()  # SIGKILL: no abort, the chunks stay behind
        doomed.proc.wait(10)
    orphan = chunks.find_one(begun)
    assert orphan is not None and world.db["videos.files"].find_one({"_id": orphan["files_id"]}) is None

    start_gateway(GATEWAY_ORPHAN_AGE_SECONDS="1", GATEWAY_ORPHAN_SWEEP_SECONDS="1")
    gone = {"files_id": orphan["files_id"]}
    wait_for(lambda: not chunks.count_documents(gone), 30, "the orphaned chunks to go")
    assert chunks.count_documents({"files_id": kept["_id"]}) == -(-kept["length"] // kept["chunkSize"])
    assert http.get(f"{gateway.url}/jobs/{stored.json()['id']}", headers=user.headers).status_code == 200


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


# --- per-user limits ------------------------------------------------------------------------------

NO_LIMITS = {
    "GATEWAY_STORAGE_QUOTA_BYTES": "0",
    "GATEWAY_JOBS_IN_FLIGHT": "0",
    "GATEWAY_UPLOADS_PER_HOUR": "0",
}


def _upload(http: httpx.Client, gateway: GatewayProcess, user: User, size: int = MiB // 2) -> httpx.Response:
    data = b"".join(mp4_like(size)[0])
    return http.post(f"{gateway.url}/jobs", headers=user.headers, files={"file": ("v.mp4", data)})


def test_jobs_in_flight_are_limited_and_a_finished_one_frees_its_place_with_a_fake_status(
    start_gateway: Callable[..., GatewayProcess],
    world: GatewayWorld,
    signup: Callable[[], User],
    http: httpx.Client,
) -> None:
    gateway = start_gateway(**{**NO_LIMITS, "GATEWAY_JOBS_IN_FLIGHT": "2"})
    user, other = signup(), signup()
    first, second = _upload(http, gateway, user), _upload(http, gateway, user)

    third = _upload(http, gateway, user)
    assert (first.status_code, second.status_code, third.status_code) == (202, 202, 429)
    assert third.json()["detail"] == (
        "You have 2 conversions in progress; the limit is 2 at once. "
        "Wait for one to finish (or cancel one) and upload again."
    )
    assert "Retry-After" in third.headers
    assert _upload(http, gateway, other).status_code == 202  # another user is not affected

    world.set_status(first.json()["id"], phase="Succeeded")  # the test plays the operator
    assert _upload(http, gateway, user).status_code == 202


def test_uploads_per_hour_are_limited_and_deleting_jobs_gives_none_back(
    start_gateway: Callable[..., GatewayProcess], signup: Callable[[], User], http: httpx.Client
) -> None:
    gateway = start_gateway(**{**NO_LIMITS, "GATEWAY_UPLOADS_PER_HOUR": "2"})
    user = signup()
    ids = [_upload(http, gateway, user).json()["id"] for _ in range(2)]
    for job_id in ids:
        assert http.delete(f"{gateway.url}/jobs/{job_id}", headers=user.headers).status_code == 204

    refused = _upload(http, gateway, user)

    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        "You have uploaded 2 videos in the last hour; the limit is 2 per hour. Try again in "
    )
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600


def test_the_storage_quota_refuses_early_and_mid_stream_naming_the_quota(
    start_gateway: Callable[..., GatewayProcess],
    world: GatewayWorld,
    signup: Callable[[], User],
    http: httpx.Client,
) -> None:
    gateway = start_gateway(**{**NO_LIMITS, "GATEWAY_STORAGE_QUOTA_BYTES": str(3 * MiB)})
    user = signup()
    assert _upload(http, gateway, user, 2 * MiB).status_code == 202
    before = world.stored(user.id)
    quota = (
        "Your storage quota is 3 MiB (videos and MP3s) and 2 MiB of it is used: "
        "delete jobs you no longer need to upload this video."
    )

    declared = _upload(http, gateway, user, 2 * MiB)  # Content-Length: refused before reading
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:  # chunked: cut at 1 MiB
        sock.sendall(_head(user, length=None) + _chunked(FILE_PART))
        sock.sendall(_chunked(b"".join(mp4_like(2 * MiB)[0])))
        answer, _, _ = _answer_and_close(sock, timeout=15)

    assert declared.status_code == 413 and declared.json()["detail"] == quota
    assert answer.startswith(b"HTTP/1.1 413 ") and quota.encode() in answer
    wait_for(lambda: world.stored(user.id) == before, 10, "the refused upload's chunks to be removed")
    assert _upload(http, gateway, user, MiB // 2).status_code == 202  # what fits is still accepted


# --- signed download links ------------------------------------------------------------------------

LINK_SECRET = "a-test-download-link-secret-of-48-bytes-long!!!"


def test_an_emailed_link_downloads_its_job_without_a_token_until_the_job_is_deleted_with_a_fake_mp3(
    start_gateway: Callable[..., GatewayProcess],
    world: GatewayWorld,
    signup: Callable[[], User],
    http: httpx.Client,
) -> None:
    gateway = start_gateway(GATEWAY_DOWNLOAD_LINK_SECRET=LINK_SECRET)
    user = signup()
    ids = [_upload(http, gateway, user).json()["id"] for _ in range(2)]
    mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 50_000
    for job_id in ids:
        world.complete(job_id, mp3, owner=user.id)  # the test plays the converter and the operator
    # what the notification service puts in the email (common/links.py, the same secret)
    link = links.sign(secret=LINK_SECRET, job=ids[0], owner=user.id, ttl_seconds=600)
    url = f"{gateway.url}/jobs/{ids[0]}/mp3"

    fetched = http.get(url, params={"link": link})  # no Authorization header
    other_job = http.get(f"{gateway.url}/jobs/{ids[1]}/mp3", params={"link": link})
    expired = http.get(
        url,
        params={
            "link": links.sign(
                secret=LINK_SECRET, job=ids[0], owner=user.id, ttl_seconds=60, now=int(time.time()) - 3600
            )
        },
    )
    forged = http.get(
        url, params={"link": links.sign(secret="x" * 48, job=ids[0], owner=user.id, ttl_seconds=600)}
    )
    no_secret = http.get(f"{start_gateway().url}/jobs/{ids[0]}/mp3", params={"link": link})

    assert fetched.status_code == 200 and fetched.content == mp3
    assert (
        other_job.status_code == 401
        and other_job.json()["detail"] == "This download link is for another job."
    )
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert forged.status_code == 401 and forged.json()["detail"] == "This download link is not valid."
    assert no_secret.status_code == 401
    assert http.delete(f"{gateway.url}/jobs/{ids[0]}", headers=user.headers).status_code == 204
    revoked = http.get(url, params={"link": link})
    assert revoked.status_code == 404  # deleting the job revoked its link


# --- sessions -------------------------------------------------------------------------------------


def test_logout_through_the_gateway_ends_the_session_and_its_access_tokens_within_seconds(
    start_gateway: Callable[..., GatewayProcess], world: GatewayWorld, http: httpx.Client
) -> None:
    gateway = start_gateway(GATEWAY_TOKEN_VERSION_CACHE_SECONDS="2")
    email, password = f"gw-{secrets.token_hex(5)}@mp4mp3.localhost", secrets.token_urlsafe(16)
    assert (
        http.post(f"{world.auth_url}/signup", json={"email": email, "password": password}).status_code == 201
    )
    first = http.post(f"{gateway.url}/login", auth=(email, password)).json()
    other_device = http.post(f"{gateway.url}/login", auth=(email, password)).json()
    refreshed = http.post(f"{gateway.url}/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    assert http.get(f"{gateway.url}/jobs", headers=bearer).status_code == 200

    out = http.post(f"{gateway.url}/logout", json={"refresh_token": refreshed.json()["refresh_token"]})
    logged_out_at = time.monotonic()

    assert out.status_code == 204
    wait_for(
        lambda: http.get(f"{gateway.url}/jobs", headers=bearer).status_code == 401,
        10,
        "the old token refused",
    )
    assert time.monotonic() - logged_out_at < 5  # the access token had 15 minutes left
    refused = http.get(f"{gateway.url}/jobs", headers=bearer)
    assert refused.json()["detail"] == "This session was logged out; log in again."
    again = http.post(f"{gateway.url}/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 401
    # another device's session refreshes into tokens of the new version; a new login works too
    renewed = http.post(f"{gateway.url}/refresh", json={"refresh_token": other_device["refresh_token"]})
    assert renewed.status_code == 200
    renewed_bearer = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert http.get(f"{gateway.url}/jobs", headers=renewed_bearer).status_code == 200


def test_the_cli_renews_its_login_with_the_refresh_token_and_logout_ends_the_session(
    start_gateway: Callable[..., GatewayProcess], world: GatewayWorld, http: httpx.Client, tmp_path: Path
) -> None:
    gateway = start_gateway(GATEWAY_TOKEN_VERSION_CACHE_SECONDS="1")
    cli = Cli(
        tmp_path / "config",
        {
            "MP4MP3_CONFIG_DIR": str(tmp_path / "config"),
            "MP4MP3_API": gateway.url,
            "MP4MP3_AUTH_API": world.auth_url,
            "MP4MP3_PASSWORD": None,
        },
    )
    account = new_account()
    signed_up = cli("signup", "--email", account.email, "--password-stdin", stdin=account.password + "\n")
    assert signed_up.exit_code == 0, signed_up.output
    config = cli.store().load()
    first = config.sessions[gateway.url]
    assert first.refresh_token
    # the access token runs out (the test moves the stored expiry instead of waiting 15 minutes)
    first.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    cli.store().save(config)

    listed = cli("jobs")

    assert listed.exit_code == 0, listed.output
    renewed = cli.store().load().sessions[gateway.url]
    # a new pair (the access token may be byte-identical when issued in the same second as the login)
    assert renewed.refresh_token != first.refresh_token
    assert renewed.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)

    out = cli("logout")

    assert out.exit_code == 0, out.output
    assert gateway.url not in cli.store().load().sessions
    spent = http.post(f"{gateway.url}/refresh", json={"refresh_token": renewed.refresh_token})
    assert spent.status_code == 401  # ended on the server, not only forgotten here
    wait_for(
        lambda: (
            http.get(f"{gateway.url}/jobs", headers={"Authorization": f"Bearer {renewed.token}"}).status_code
            == 401
        ),
        5,
        "the logged-out access token to be refused",
    )
