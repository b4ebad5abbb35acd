"""The API server stops during an upload: the gateway still answers 202 (the event carries the
request), and once the API server is back the operator creates the ConversionJob and it completes.

Runs on the default devstack's chart-installed system (`make up`): its gateway through the NodePort
(kube-proxy's iptables rules keep routing while the API server is down: the 202 and the job's
Unknown status come through it), its operator (in a pod: it reconnects) and a real converter pod.
One machine has one node, so a throwaway control plane could not run the converter; instead this
test stops the shared API server for the seconds of the outage and always starts it again, then
waits until the node is Ready and the release answers as before. Tests of others that use the API
server at that moment see it down: run it alone.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.resources import GROUP, PLURAL, VERSION
from devstack.config import ROOT
from devstack.kube import ApiError, Kube
from devstack.process import port_open
from devstack.process import wait_until as wait_for
from devstack.samples import probe_codec, probe_duration, sample_video
from devstack.servers.kubernetes import KubeAPIServer
from devstack.servers.node import node_ready
from devstack.servers.release import NAMESPACE
from devstack.stack import Stack
from tests.support.gateway_world import sign_up

# alone: it stops the API server every test uses
pytestmark = [
    pytest.mark.devstack,
    pytest.mark.slow,
    pytest.mark.alone,
    pytest.mark.skipif(
        not (ROOT / "conversion_operator" / "__main__.py").exists(),
        reason="the operator (conversion_operator/) is not written yet: nothing would create the "
        "ConversionJob from the event",
    ),
]

RECOVERY_SECONDS = 120  # node Ready and the release's pods answering again after the restart


@pytest.fixture(scope="session")
def system() -> Iterator[Stack]:
    """The default devstack, whole: the node and the chart's release run only there. Stopped at
    the end of the session only if this started it (as tests/conftest.py's devstack)."""
    stack = Stack()
    if not stack.cfg.node:
        pytest.skip("this devstack runs no node (MP4MP3_DEVSTACK_NODE=0 or a port offset): no release")
    was_up = all(stack.status().values())
    stack.up()  # idempotent: what `make up` starts
    yield stack
    if not was_up and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        stack.down()


@pytest.fixture
def apiserver(system: Stack) -> Iterator[KubeAPIServer]:
    """The shared API server, started again after the test whatever happened, and the cluster
    back to work (node Ready, the release answering) before the next test runs."""
    server = system["kube-apiserver"]
    assert isinstance(server, KubeAPIServer)
    try:
        yield server
    finally:
        # one that listens is starting (its /readyz comes seconds later): a second would not bind
        if not server.main.running() and not port_open(server.cfg.ports.apiserver, server.api_host):
            server.start()
        wait_for(server.ready, RECOVERY_SECONDS, "the API server to answer again")
        wait_for(lambda: node_ready(server), RECOVERY_SECONDS, "the node to be Ready again")
        wait_for(system["mp4mp3"].running, RECOVERY_SECONDS, "the release's gateway and auth to answer")


def test_upload_during_an_api_server_outage_is_accepted_and_completes_once_it_is_back(
    system: Stack, apiserver: KubeAPIServer, tmp_path: Path
) -> None:
    # the release's auth, whose keys the release's gateway trusts (this folder's other tests sign
    # up at the host-process auth, which has keys of its own)
    user = sign_up(system.env()["AUTH_URL"])
    gateway = system.env()["GATEWAY_URL"]
    video = sample_video(seconds=4)
    data = video.read_bytes()
    boundary = "outage" + uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="bitrate"\r\n\r\n128k\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{video.name}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head + data[: len(data) // 2]
        apiserver.stop()  # mid-upload: the gateway has half the video
        wait_for(lambda: not apiserver.ready(), 30, "the API server to stop")
        yield data[len(data) // 2 :] + f"\r\n--{boundary}--\r\n".encode()

    resp = httpx.post(
        f"{gateway}/jobs",
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
        timeout=120,
    )

    assert not apiserver.ready(), "the API server came back before the gateway answered"
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    during = httpx.get(f"{gateway}/jobs/{job_id}", headers=user.headers, timeout=30).json()
    assert during["phase"] == "Unknown"  # accepted; its status cannot be read while the API is down

    # at once: the operator retries a conversion.requested it cannot act on 5 times, 5 s apart
    # (its settings), then parks it; the outage after the 202 must stay inside that
    outage_ended = time.monotonic()
    apiserver.start()
    admin = Kube.from_kubeconfig(system.cfg.kubeconfig)
    try:
        resource = _wait_or_explain(
            lambda: _conversion_job(admin, job_id), 60, "the operator to create the ConversionJob", admin
        )
        created_after = time.monotonic() - outage_ended
        assert resource["spec"]["source"]["filename"] == video.name

        def finished() -> dict[str, Any] | None:
            found = _conversion_job(admin, job_id)
            phase = ((found or {}).get("status") or {}).get("phase")
            return found if phase in ("Succeeded", "Failed", "Cancelled") else None

        resource = _wait_or_explain(finished, 240, "the ConversionJob to complete after the outage", admin)
    finally:
        admin.close()
    assert resource["status"]["phase"] == "Succeeded", resource["status"]
    # an outage of tens of seconds can get the node marked NotReady for a few more when the API
    # server is back (the controller-manager's writes resume before its watch of the kubelet's
    # lease does; seen: 10 s), and a NotReady node's pods leave their Services' endpoints, so the
    # NodePort refuses until then: what any cluster does, not the gateway's doing
    wait_for(lambda: node_ready(apiserver), RECOVERY_SECONDS, "the node to be Ready again")
    wait_for(system["mp4mp3"].running, RECOVERY_SECONDS, "the gateway to answer through its NodePort")
    job = httpx.get(f"{gateway}/jobs/{job_id}", headers=user.headers, timeout=30).json()
    assert job["phase"] == "Succeeded", job
    target = tmp_path / "out.mp3"
    mp3 = httpx.get(f"{gateway}/jobs/{job_id}/mp3", headers=user.headers, timeout=60)
    assert mp3.status_code == 200
    target.write_bytes(mp3.content)
    assert probe_codec(target) == "mp3"
    assert abs(probe_duration(target) - probe_duration(video)) < 0.2
    print(f"ConversionJob created {created_after:.1f} s after the API server was started again")


def _conversion_job(admin: Kube, name: str) -> dict[str, Any] | None:
    try:
        return admin.get(f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{name}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    except httpx.HTTPError:  # the API server is still starting
        return None


def _wait_or_explain(check: Any, timeout: float, what: str, admin: Kube) -> Any:
    """wait_for, failing with the operator's log lines and the namespace's pods."""
    try:
        return wait_for(check, timeout, what, interval=1.0)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{_operator_story(admin)}") from None


def _operator_story(admin: Kube) -> str:
    pods = admin.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
    lines = [
        f"{p['metadata']['name']} {p['status'].get('phase')} restarts="
        + str(sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])))
        for p in pods
    ]
    operator = [p["metadata"]["name"] for p in pods if "operator" in p["metadata"]["name"]]
    for name in operator:
        log = admin.http.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/log", params={"tailLines": 40})
        lines.append(f"--- {name} log ---\n{log.text}")
    return "\n".join(lines)
