"""The CLI's HTTP client: uploads streamed in small reads with their progress, answers and
transport failures turned into exit codes. A transport function stands in for the server where
the real gateway cannot be made to answer so (a 500, a non-JSON body); the integration tests
drive the real one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mp4mp3_cli.api import Api, Stopped
from mp4mp3_cli.errors import CliError, ExitCode


def api_with(handler: Callable[[httpx.Request], httpx.Response]) -> Api:
    return Api("http://gateway.test", token="t", transport=httpx.MockTransport(handler))


def test_upload_reads_the_file_in_small_pieces_and_declares_its_length(tmp_path: Path) -> None:
    video = tmp_path / "big.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(3 * 1024 * 1024))
    seen: dict[str, str] = {}

    def server(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(202, json={"id": "cj-1", "phase": "Pending"})

    reads: list[int] = []  # one entry per read of the file, as the progress bar gets them
    with api_with(server) as api:
        job = api.upload(video, {"bitrate": "192k"}, reads.append, threading.Event())
    assert job["id"] == "cj-1"
    assert max(reads) <= 64 * 1024  # never the whole file at once
    assert sum(reads) == video.stat().st_size
    assert int(seen["content-length"]) > video.stat().st_size  # known up front, not chunked
    assert seen["authorization"] == "Bearer t"


def test_upload_stops_when_asked(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(bytes(1024 * 1024))
    stop = threading.Event()
    reads: list[int] = []

    def progress(count: int) -> None:
        reads.append(count)
        stop.set()  # Ctrl-C after the first piece

    with api_with(lambda r: httpx.Response(202, json={})) as api, pytest.raises(Stopped):
        api.upload(video, {}, progress, stop)
    assert len(reads) == 1


def test_server_failure_is_exit_8_with_the_status() -> None:
    with (
        api_with(lambda r: httpx.Response(500, text="Internal Server Error")) as api,
        pytest.raises(CliError) as caught,
    ):
        api.jobs(20, 0)
    assert caught.value.code == ExitCode.SERVER_ERROR
    assert "(500)" in caught.value.message


def test_a_non_json_answer_is_exit_8() -> None:
    with (
        api_with(lambda r: httpx.Response(200, text="<html>proxy</html>")) as api,
        pytest.raises(CliError) as caught,
    ):
        api.job("cj-1")
    assert caught.value.code == ExitCode.SERVER_ERROR


def test_job_id_stays_one_path_segment() -> None:
    paths: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(404, json={"detail": "No job."})

    with api_with(server) as api, pytest.raises(CliError):
        api.job("../jobs?x=1")
    assert paths == ["/jobs/..%2Fjobs%3Fx%3D1"]


def test_short_download_is_not_kept(tmp_path: Path) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "10"}, content=b"12345")

    with api_with(server) as api, pytest.raises(CliError) as caught:
        api.download("cj-1", lambda r: tmp_path / "a.mp3", lambda t: None, lambda n: None, threading.Event())
    assert caught.value.code in (ExitCode.UNREACHABLE,)
    assert list(tmp_path.iterdir()) == []  # neither a.mp3 nor a.mp3.part


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Api(f"http://127.0.0.1:{port}", timeout=5) as api, pytest.raises(CliError) as caught:
        api.jobs(20, 0)
    assert caught.value.code == ExitCode.UNREACHABLE
    assert caught.value.message.startswith(f"Cannot reach http://127.0.0.1:{port} (")
