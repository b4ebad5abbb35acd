"""Jobs over their life: listed newest first, status merged from the ConversionJob, deleted; the
fallbacks when Kubernetes or RabbitMQ are unreachable; readiness, RBAC, the seed's routes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from bson import ObjectId

from devstack.stack import Stack
from tests.support.gateway_harness import GatewayProcess, MiB, free_port, mp4_like
from tests.support.gateway_world import SERVICE_ACCOUNT, GatewayWorld, User

pytestmark = pytest.mark.devstack


def _upload(
    http: httpx.Client, gateway: GatewayProcess, user: User, name: str = "clip.mp4"
) -> httpx.Response:
    data = b"".join(mp4_like(MiB // 2)[0])
    return http.post(f"{gateway.url}/jobs", headers=user.headers, files={"file": (name, data)})


@pytest.fixture(scope="module")
def no_kube(
    world: GatewayWorld,
    start_gateway: Callable[..., GatewayProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> GatewayProcess:
    """A gateway whose API server does not answer (its kubeconfig names a port nobody listens on)."""
    config = yaml.safe_load(world.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    path = tmp_path_factory.mktemp("no-kube") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return start_gateway(KUBECONFIG=str(path))


def test_jobs_are_listed_newest_first_in_pages(
    gateway: GatewayProcess, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    ids = [_upload(http, gateway, user, f"part-{i}.mp4").json()["id"] for i in range(3)]

    first = http.get(f"{gateway.url}/jobs", params={"limit": 2}, headers=user.headers).json()
    second = http.get(first["next"], headers=user.headers).json()

    assert [j["id"] for j in first["items"]] == [ids[2], ids[1]]
    assert [j["id"] for j in second["items"]] == [ids[0]]
    assert first["total"] == second["total"] == 3
    assert first["next"] == f"{gateway.url}/jobs?limit=2&offset=2" and second["next"] is None
    assert [j["filename"] for j in first["items"]] == ["part-2.mp4", "part-1.mp4"]
    bad = http.get(f"{gateway.url}/jobs", params={"limit": 0}, headers=user.headers)
    assert bad.status_code == 422 and "limit" in bad.json()["detail"]
    # found by the fuzz test: an offset past MongoDB's 64-bit skip was a 500
    huge = http.get(f"{gateway.url}/jobs", params={"offset": 2**64}, headers=user.headers)
    assert huge.status_code == 422 and "offset" in huge.json()["detail"]
    last = http.get(f"{gateway.url}/jobs", params={"offset": 2**63 - 1}, headers=user.headers)
    assert last.status_code == 200 and last.json()["items"] == [] and last.json()["total"] == 3


def test_the_resources_status_shows_in_the_job(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    job_id = _upload(http, gateway, user).json()["id"]
    url = f"{gateway.url}/jobs/{job_id}"

    world.set_status(job_id, phase="Running", progress=42, startedAt="2026-11-24T10:00:00Z", attempts=1)
    running = http.get(url, headers=user.headers).json()
    world.complete(job_id, b"ID3" + bytes(1000), owner=user.id)
    done = http.get(url, headers=user.headers).json()
    listed = http.get(f"{gateway.url}/jobs", headers=user.headers).json()["items"][0]

    assert (running["phase"], running["progress"], running["attempts"]) == ("Running", 42, 1)
    assert running["startedAt"] == "2026-11-24T10:00:00Z" and running["download"] is None
    assert (done["phase"], done["progress"], done["mp3Size"]) == ("Succeeded", 100, 1003)
    assert done["download"] == f"{url}/mp3"
    assert listed == done


def test_delete_removes_the_job_and_leaves_cleanup_to_the_finalizer(
    gateway: GatewayProcess, world: GatewayWorld, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    job_id = _upload(http, gateway, user).json()["id"]

    resp = http.delete(f"{gateway.url}/jobs/{job_id}", headers=user.headers)

    assert resp.status_code == 204
    assert http.get(f"{gateway.url}/jobs/{job_id}", headers=user.headers).status_code == 404
    assert http.get(f"{gateway.url}/jobs", headers=user.headers).json()["total"] == 0
    resource = world.conversionjob(job_id)  # the operator's finalizer holds it until the files are gone
    assert resource is not None and resource["metadata"].get("deletionTimestamp")
    assert http.delete(f"{gateway.url}/jobs/{job_id}", headers=user.headers).status_code == 404


def test_without_the_api_server_the_event_carries_the_upload(
    no_kube: GatewayProcess,
    gateway: GatewayProcess,
    world: GatewayWorld,
    signup: Callable[[], User],
    http: httpx.Client,
) -> None:
    user = signup()
    world.queued_requests()  # start from an empty queue

    resp = _upload(http, no_kube, user)

    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert world.conversionjob(job_id) is None
    (event,) = world.queued_requests()
    assert event["job"] == {"name": job_id, "namespace": world.namespace, "uid": None}
    assert event["spec"]["source"]["videoId"] == job_id.removeprefix("cj-")
    assert event["owner"] == {"user_id": user.id, "email": user.email}
    # while Kubernetes cannot be asked the job is known, its status is not
    unknown = http.get(f"{no_kube.url}/jobs/{job_id}", headers=user.headers).json()
    assert unknown["phase"] == "Unknown"
    # with Kubernetes back but no resource yet: accepted, waiting for the operator
    pending = http.get(f"{gateway.url}/jobs/{job_id}", headers=user.headers).json()
    assert pending["phase"] == "Pending" and "waiting for the operator" in pending["message"]
    # deleting a job that has no resource removes its video at once
    assert http.delete(f"{gateway.url}/jobs/{job_id}", headers=user.headers).status_code == 204
    assert world.db["videos.files"].count_documents({"_id": ObjectId(job_id.removeprefix("cj-"))}) == 0


def test_with_neither_the_api_server_nor_the_broker_the_upload_is_503_and_nothing_is_kept(
    world: GatewayWorld,
    start_gateway: Callable[..., GatewayProcess],
    no_kube: GatewayProcess,
    signup: Callable[[], User],
    http: httpx.Client,
) -> None:
    dead_amqp = world.amqp_url.replace(world.amqp_url.split("@")[1].split("/")[0], f"127.0.0.1:{free_port()}")
    isolated = start_gateway(ready=False, KUBECONFIG=no_kube.env["KUBECONFIG"], GATEWAY_AMQP_URL=dead_amqp)
    user = signup()
    before = world.stored(user.id)

    resp = _upload(http, isolated, user)
    ready = http.get(f"{isolated.url}/readyz")

    assert resp.status_code == 503
    assert (
        resp.json()["detail"]
        == "Neither Kubernetes nor the message broker can be reached; nothing was stored. Try again."
    )
    assert world.stored(user.id) == before
    assert ready.status_code == 503 and ready.json()["status"] == "unready"


def test_readiness_names_each_dependency(
    gateway: GatewayProcess, no_kube: GatewayProcess, http: httpx.Client
) -> None:
    ready = http.get(f"{gateway.url}/readyz")
    degraded = http.get(f"{no_kube.url}/readyz")

    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert {name: c["ok"] for name, c in ready.json()["checks"].items()} == {
        "kubernetes": True,
        "mongo": True,
        "rabbitmq": True,
    }
    assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
    assert degraded.json()["checks"]["kubernetes"]["ok"] is False
    assert "unreachable" in degraded.json()["checks"]["kubernetes"]["error"]
    assert http.get(f"{gateway.url}/healthz").json() == {"status": "ok"}


def test_the_gateways_service_account_may_only_handle_conversionjobs_here(
    world: GatewayWorld, kubectl: list[str]
) -> None:
    def can(verb: str, resource: str, namespace: str = world.namespace, *extra: str) -> bool:
        sa = f"system:serviceaccount:{world.namespace}:{SERVICE_ACCOUNT}"
        out = subprocess.run(
            [*kubectl, "auth", "can-i", verb, resource, "-n", namespace, f"--as={sa}", *extra],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() == "yes"

    for verb in ("create", "get", "list", "watch", "patch", "delete"):  # patch: the retry annotation
        assert can(verb, "conversionjobs.mp4mp3.io"), verb
    for verb in ("update", "deletecollection"):
        assert not can(verb, "conversionjobs.mp4mp3.io"), verb
    # (TYPE/NAME would ask about a ConversionJob named "status": the subresource is a flag)
    assert not can("patch", "conversionjobs.mp4mp3.io", world.namespace, "--subresource=status")
    for resource in ("pods", "jobs.batch", "secrets", "configmaps", "serviceaccounts"):
        assert not can("get", resource), resource
    assert not can("create", "conversionjobs.mp4mp3.io", namespace="default")


def test_the_seed_routes_log_in_and_upload(
    gateway: GatewayProcess, world: GatewayWorld, http: httpx.Client
) -> None:
    email, password = f"seed-{ObjectId()}@mp4mp3.localhost", "a long enough password"
    assert (
        http.post(f"{world.auth_url}/signup", json={"email": email, "password": password}).status_code == 201
    )

    login = http.post(f"{gateway.url}/login", auth=(email, password))
    wrong = http.post(f"{gateway.url}/login", auth=(email, "not the password"))
    token = login.json()["access_token"]
    data = b"".join(mp4_like(MiB // 2)[0])
    upload = http.post(
        f"{gateway.url}/upload",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("seed.mp4", data)},
    )

    assert login.status_code == 200 and login.json()["token_type"] == "bearer"
    assert wrong.status_code == 401
    assert upload.status_code == 202 and upload.json()["id"].startswith("cj-")
    assert world.conversionjob(upload.json()["id"]) is not None


def test_openapi_documents_the_upload_form_and_examples(gateway: GatewayProcess, http: httpx.Client) -> None:
    spec = http.get(f"{gateway.url}/openapi.json").json()

    form = spec["paths"]["/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["file"] and "bitrate" in form["schema"]["properties"]
    audio = ["format", "title", "artist", "album", "year", "comment", "coverArt", "chapters", "loudness"]
    assert set(audio) | {"trimSilence"} <= set(form["schema"]["properties"])
    assert form["schema"]["properties"]["format"]["enum"] == ["mp3", "m4a", "opus", "flac"]
    types = spec["paths"]["/jobs/{job_id}/mp3"]["get"]["responses"]["200"]["content"]
    assert set(types) == {"audio/mpeg", "audio/mp4", "audio/ogg", "audio/flac"}
    assert spec["components"]["schemas"]["Job"]["examples"][0]["phase"] == "Succeeded"
    assert {
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/{job_id}/mp3",
        "/login",
        "/upload",
        "/download",
        "/readyz",
    } <= set(spec["paths"])
    assert "416" in spec["paths"]["/jobs/{job_id}/mp3"]["get"]["responses"]


def test_the_devstacks_host_process_gateway_is_ready(devstack: Stack, http: httpx.Client) -> None:
    devstack.up(["gateway"])
    url = devstack["gateway"].env()["GATEWAY_URL"]  # the host process's, not the chart's

    ready = http.get(f"{url}/readyz")

    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"  # so its ServiceAccount may list ConversionJobs in mp4mp3
    assert Path(devstack.cfg.dir("gateway") / "kubeconfig").exists()
