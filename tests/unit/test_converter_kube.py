"""The converter's status patches: a merge-patch of its own ConversionJob's status over TLS with the
pod's CA, the ServiceAccount token read anew for each request, progress never failing a conversion."""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from converter_job.kube import PatchFailed, StatusPatcher
from devstack.pki import PKI

STATUS_PATH = "/apis/mp4mp3.io/v1alpha1/namespaces/ns/conversionjobs/cj-1/status"


@dataclass
class ApiServer:
    url: str
    answers: list[int] = field(default_factory=list)  # statuses to answer with, in turn; then 200
    hang_up_after_answer: bool = False  # close each connection without saying so (an idle timeout)
    seen: list[tuple[str, str, dict[str, str], dict]] = field(default_factory=list)
    connections: set[tuple[str, int]] = field(default_factory=set)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    pki = PKI(tmp_path_factory.mktemp("pki"))
    pki.ensure({})  # a CA and a serving certificate for 127.0.0.1
    return pki


@pytest.fixture
def sa_dir(tmp_path: Path, pki: PKI) -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    shutil.copy(pki.path("ca.crt"), folder / "ca.crt")
    (folder / "token").write_text("token-1\n")
    return folder


@pytest.fixture
def api(pki: PKI) -> Iterator[ApiServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.path("apiserver.crt"), pki.path("apiserver.key"))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    state = ApiServer(f"https://127.0.0.1:{server.server_address[1]}")
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server

    def do_PATCH(self) -> None:
        state: ApiServer = self.server.state  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state.seen.append((self.command, self.path, dict(self.headers), body))
        state.connections.add(self.client_address)
        code = state.answers.pop(0) if state.answers else 200
        answer = b"{}"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.close_connection = state.hang_up_after_answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def patcher(api: ApiServer, sa_dir: Path) -> StatusPatcher:
    return StatusPatcher(api.url, sa_dir, "ns", "cj-1", timeout=5.0)


def test_progress_is_a_merge_patch_of_the_jobs_status_with_the_token_read_anew(
    api: ApiServer, sa_dir: Path
) -> None:
    client = patcher(api, sa_dir)

    client.report(10)
    (sa_dir / "token").write_text("token-2\n")  # the kubelet rotated it
    client.report(20)
    client.close()

    assert [(method, path, body) for method, path, _, body in api.seen] == [
        ("PATCH", STATUS_PATH, {"status": {"progress": 10}}),
        ("PATCH", STATUS_PATH, {"status": {"progress": 20}}),
    ]
    headers = [h for _, _, h, _ in api.seen]
    assert [h["Authorization"] for h in headers] == ["Bearer token-1", "Bearer token-2"]
    assert {h["Content-Type"] for h in headers} == {"application/merge-patch+json"}
    assert len(api.connections) == 1  # one connection, kept alive


def test_a_connection_the_server_closed_while_idle_is_opened_again(api: ApiServer, sa_dir: Path) -> None:
    api.hang_up_after_answer = True
    client = patcher(api, sa_dir)

    client.patch_status({"progress": 1})
    client.patch_status({"progress": 2})

    assert [body for *_, body in api.seen] == [{"status": {"progress": 1}}, {"status": {"progress": 2}}]


def test_an_error_status_fails_the_patch_but_never_the_progress_report(
    api: ApiServer, sa_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api.answers = [403, 500]
    client = patcher(api, sa_dir)

    with pytest.raises(PatchFailed) as refused:
        client.patch_status({"progress": 5})
    with caplog.at_level(logging.WARNING, logger="converter.kube"):
        client.report(6)
    client.report(7)

    assert refused.value.status == 403
    assert "event=progress.not_reported" in caplog.text and "percent=6" in caplog.text
    assert [body["status"]["progress"] for *_, body in api.seen] == [5, 6, 7]


def test_an_unreachable_api_server_is_only_a_warning(sa_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = StatusPatcher("https://127.0.0.1:9", sa_dir, "ns", "cj-1", timeout=1.0)  # nothing listens

    with caplog.at_level(logging.WARNING, logger="converter.kube"):
        client.report(50)

    assert "event=progress.not_reported" in caplog.text


def test_a_server_without_the_pods_ca_is_refused(api: ApiServer, sa_dir: Path, tmp_path: Path) -> None:
    other = PKI(tmp_path / "other")
    other.ensure({})
    shutil.copy(other.path("ca.crt"), sa_dir / "ca.crt")

    with pytest.raises(ssl.SSLCertVerificationError):
        patcher(api, sa_dir).patch_status({"progress": 1})
    assert api.seen == []


def test_outside_a_pod_there_is_no_patcher(sa_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert StatusPatcher.in_cluster(sa_dir, "ns", "cj-1", 5.0) is None
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    assert StatusPatcher.in_cluster(sa_dir, "ns", "cj-1", 5.0) is not None
    assert StatusPatcher.in_cluster(sa_dir.parent / "none", "ns", "cj-1", 5.0) is None


def test_the_report_is_patched_into_the_status_and_a_refusal_is_only_a_warning(
    api: ApiServer, sa_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = patcher(api, sa_dir)
    report = {"mp3Id": "abc", "size": 1003, "audioSeconds": 1.0, "pod": "cj-1-x7k2p"}

    client.report_result(report)
    api.answers = [403]
    with caplog.at_level(logging.WARNING, logger="converter.kube"):
        client.report_result(report)  # the pod's termination message still tells the operator

    assert [body for *_, body in api.seen] == [{"status": {"converterReport": report}}] * 2
    assert "event=report.not_patched" in caplog.text
