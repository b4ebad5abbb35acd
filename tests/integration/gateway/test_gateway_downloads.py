"""GET /jobs/{id}/mp3 and the seed's /download: streamed, exact bytes, ETag, HTTP Range."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import pytest

from tests.support.gateway_harness import GatewayProcess, MiB, mp4_like
from tests.support.gateway_world import GatewayWorld, User

pytestmark = pytest.mark.devstack

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + os.urandom(3 * 128 * 1024 + 777)  # 3 chunks and a bit


@pytest.fixture
def done(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> tuple[User, str]:
    """A user and their job whose conversion succeeded with MP3 as its result."""
    user = signup()
    data = b"".join(mp4_like(MiB)[0])
    resp = http.post(
        f"{gateway.url}/jobs", headers=user.headers, files={"file": ("Été à Paris; 2026.mp4", data)}
    )
    assert resp.status_code == 202, resp.text
    job_id = str(resp.json()["id"])
    world.complete(job_id, MP3, owner=user.id, filename="Été à Paris; 2026.mp3")
    return user, job_id


def test_range_100_199_is_exactly_those_bytes_with_206(
    gateway: GatewayProcess, done: tuple[User, str], http: httpx.Client
) -> None:
    user, job_id = done

    resp = http.get(f"{gateway.url}/jobs/{job_id}/mp3", headers={**user.headers, "Range": "bytes=100-199"})

    assert resp.status_code == 206
    assert resp.content == MP3[100:200]
    assert resp.headers["content-range"] == f"bytes 100-199/{len(MP3)}"
    assert resp.headers["content-length"] == "100"
    assert resp.headers["content-type"] == "audio/mpeg"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        (f"bytes={128 * 1024 - 5}-{128 * 1024 + 5}", 128 * 1024 - 5, 128 * 1024 + 5),  # across chunks
        ("bytes=300000-", 300000, len(MP3) - 1),
        ("bytes=-500", len(MP3) - 500, len(MP3) - 1),
        (f"bytes=10-{10 * len(MP3)}", 10, len(MP3) - 1),
    ],
    ids=["first-byte", "across-chunks", "open-ended", "suffix", "clipped"],
)
def test_ranges_anywhere_in_the_file(
    gateway: GatewayProcess, done: tuple[User, str], http: httpx.Client, header: str, start: int, end: int
) -> None:
    user, job_id = done

    resp = http.get(f"{gateway.url}/jobs/{job_id}/mp3", headers={**user.headers, "Range": header})

    assert resp.status_code == 206
    assert resp.content == MP3[start : end + 1]
    assert resp.headers["content-range"] == f"bytes {start}-{end}/{len(MP3)}"


def test_whole_download_has_length_etag_and_a_safe_file_name(
    gateway: GatewayProcess, done: tuple[User, str], http: httpx.Client
) -> None:
    user, job_id = done

    with http.stream("GET", f"{gateway.url}/jobs/{job_id}/mp3", headers=user.headers) as resp:
        body = b"".join(resp.iter_bytes())
        headers = resp.headers

    assert resp.status_code == 200
    assert body == MP3
    assert headers["content-length"] == str(len(MP3))
    assert headers["content-type"] == "audio/mpeg"
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"].startswith('"') and headers["etag"].endswith('"')
    assert headers["content-disposition"] == (
        'attachment; filename="Ete a Paris_ 2026.mp3"; '
        "filename*=UTF-8''%C3%89t%C3%A9%20%C3%A0%20Paris%3B%202026.mp3"
    )


def test_conditional_requests_use_the_etag(
    gateway: GatewayProcess, done: tuple[User, str], http: httpx.Client
) -> None:
    user, job_id = done
    url = f"{gateway.url}/jobs/{job_id}/mp3"
    etag = http.get(url, headers=user.headers).headers["etag"]

    unchanged = http.get(url, headers={**user.headers, "If-None-Match": etag})
    resumed = http.get(url, headers={**user.headers, "Range": "bytes=5-9", "If-Range": etag})
    stale = http.get(url, headers={**user.headers, "Range": "bytes=5-9", "If-Range": '"an-old-version"'})

    assert unchanged.status_code == 304 and unchanged.content == b""
    assert resumed.status_code == 206 and resumed.content == MP3[5:10]
    assert stale.status_code == 200 and stale.content == MP3  # the whole new version


def test_a_range_beyond_the_end_is_416(
    gateway: GatewayProcess, done: tuple[User, str], http: httpx.Client
) -> None:
    user, job_id = done

    resp = http.get(
        f"{gateway.url}/jobs/{job_id}/mp3", headers={**user.headers, "Range": f"bytes={len(MP3)}-"}
    )

    assert resp.status_code == 416
    assert resp.headers["content-range"] == f"bytes */{len(MP3)}"
    assert "outside the file" in resp.json()["detail"]


def test_the_seed_download_route_serves_the_same_bytes(
    gateway: GatewayProcess, done: tuple[User, str], http: httpx.Client
) -> None:
    user, job_id = done

    whole = http.get(f"{gateway.url}/download", params={"fid": job_id}, headers=user.headers)
    part = http.get(
        f"{gateway.url}/download", params={"fid": job_id}, headers={**user.headers, "Range": "bytes=100-199"}
    )

    assert (whole.status_code, whole.content) == (200, MP3)
    assert (part.status_code, part.content) == (206, MP3[100:200])


def test_no_mp3_yet_is_409_saying_why(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    data = b"".join(mp4_like(MiB)[0])
    job_id = http.post(f"{gateway.url}/jobs", headers=user.headers, files={"file": ("a.mp4", data)}).json()[
        "id"
    ]
    url = f"{gateway.url}/jobs/{job_id}/mp3"

    pending = http.get(url, headers=user.headers)
    world.set_status(job_id, phase="Running", progress=42)
    running = http.get(url, headers=user.headers)
    world.set_status(
        job_id, phase="Failed", reason="NoAudioStream", message="The video has no audio track to convert."
    )
    failed = http.get(url, headers=user.headers)

    assert pending.status_code == running.status_code == failed.status_code == 409
    assert pending.json()["detail"] == "The job is Pending; the MP3 is not ready yet."
    assert running.json()["detail"] == "The job is Running (42%); the MP3 is not ready yet."
    assert failed.json()["detail"] == (
        "The conversion failed, so there is no MP3: The video has no audio track to convert."
    )


def test_download_of_a_fake_flac_result_is_named_and_typed_for_flac(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    data = b"".join(mp4_like(MiB)[0])
    resp = http.post(
        f"{gateway.url}/jobs",
        headers=user.headers,
        files={"file": ("Été.mp4", data)},
        data={"format": "flac"},
    )
    assert resp.status_code == 202, resp.text
    job_id = str(resp.json()["id"])
    world.complete(job_id, b"fLaC" + MP3[4:], owner=user.id, filename="Été.flac")  # plays the converter

    resp = http.get(f"{gateway.url}/jobs/{job_id}/mp3", headers=user.headers)

    assert resp.status_code == 200 and resp.content.startswith(b"fLaC")
    assert resp.headers["content-type"] == "audio/flac"
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"Ete.flac\"; filename*=UTF-8''%C3%89t%C3%A9.flac"
    )
