"""The chart-installed system as a cluster operator sees it, with the devstack's own settings:
each Deployment from the image built here, `helm test`, the converter as a pod (its user and
read-only root, kubectl logs and exec), and the largest upload the gateway accepts converting in
the converter's work dir. Nothing here changes the release: it runs beside the other tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.config import Config
from devstack.kube import Kube
from devstack.samples import probe_codec, probe_duration, sample_video
from devstack.servers.release import MAX_UPLOAD_BYTES, NAMESPACE, RELEASE, Release
from tests.support.e2e_harness import User, converter_pods, run, upload, wait_until_done

pytestmark = [pytest.mark.devstack, pytest.mark.e2e]

UID = 10001


def test_the_largest_upload_the_gateway_accepts_converts_in_the_converters_work_dir(
    http: httpx.Client, urls: dict[str, str], tmp_path: Path
) -> None:
    video = largest_video(MAX_UPLOAD_BYTES)
    user = User(http, urls["auth"])

    job_id = upload(http, urls["gateway"], user, video)
    job = wait_until_done(http, urls["gateway"], user, job_id, timeout=600)

    assert job["phase"] == "Succeeded", job
    target = tmp_path / "out.mp3"
    target.write_bytes(http.get(f"{urls['gateway']}/jobs/{job_id}/mp3", headers=user.headers).content)
    assert probe_codec(target) == "mp3"
    assert abs(probe_duration(target) - probe_duration(video)) < 0.2


def largest_video(cap: int) -> Path:
    """An MP4 with audio between 3 MiB under ``cap`` and ``cap`` bytes (lossless video fills it fast),
    cached with the other samples."""
    folder = Config.from_env().cache / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"largest-{cap}.mp4"
    if path.exists():
        return path
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=f=440:d=600"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a", "aac", "-b:a", "128k"]
    argv += [
        "-fs",
        str(cap - 2 * 2**20),
        "-movflags",
        "+faststart",
        "-shortest",
        str(path.with_suffix(".tmp.mp4")),
    ]
    subprocess.run(argv, check=True, timeout=600)
    path.with_suffix(".tmp.mp4").rename(path)
    size = path.stat().st_size
    assert cap - 3 * 2**20 < size <= cap, size
    return path


# --- the converter as a pod ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_job(urls: dict[str, str]) -> str:
    """A conversion that ran to its end on the chart-installed system."""
    with httpx.Client(timeout=120) as http:
        user = User(http, urls["auth"])
        job_id = upload(http, urls["gateway"], user, sample_video(seconds=4))
        assert wait_until_done(http, urls["gateway"], user, job_id)["phase"] == "Succeeded"
    return job_id


def test_kubectl_logs_shows_what_the_converter_said(
    finished_job: str, kubectl: list[str], kube: Kube
) -> None:
    (pod,) = converter_pods(kube, finished_job)

    logs = run([*kubectl, "-n", NAMESPACE, "logs", pod["metadata"]["name"]])

    assert logs.returncode == 0, logs.stderr
    assert finished_job in logs.stdout


def test_the_converter_runs_as_its_own_user_on_a_read_only_root(
    finished_job: str, kubectl: list[str], kube: Kube
) -> None:
    """A pod made from the converter Job's own template (its image, securityContext, volumes and
    limits, only the command replaced so it stays up), entered with kubectl exec."""
    name = "converter-probe"
    pod = probe_pod(kube, finished_job, name)
    run([*kubectl, "-n", NAMESPACE, "delete", "pod", name, "--ignore-not-found", "--wait"])
    made = run([*kubectl, "-n", NAMESPACE, "apply", "-f", "-"], input=yaml.safe_dump(pod))
    assert made.returncode == 0, made.stderr
    try:
        ready = run(
            [*kubectl, "-n", NAMESPACE, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=90s"]
        )
        assert ready.returncode == 0, ready.stderr
        exec_ = [*kubectl, "-n", NAMESPACE, "exec", name, "--"]
        ids = run([*exec_, "id", "-u"])
        root = run([*exec_, "touch", "/written"])
        scratch = run([*exec_, "touch", "/tmp/written"])
        mounts = run([*exec_, "cat", "/proc/self/mounts"])
    finally:
        run([*kubectl, "-n", NAMESPACE, "delete", "pod", name, "--wait=false"])

    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.strip() == str(UID)
    assert root.returncode != 0 and "Read-only file system" in root.stderr
    assert scratch.returncode == 0, scratch.stderr
    (root_mount,) = [line.split() for line in mounts.stdout.splitlines() if line.split()[1] == "/"]
    assert "ro" in root_mount[3].split(",")


def probe_pod(kube: Kube, job_id: str, name: str) -> dict[str, Any]:
    job = kube.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job_id}")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    container["command"] = ["python", "-c", "import time; print('up', flush=True); time.sleep(600)"]
    container.pop("env", None)  # the converter's own settings: this pod converts nothing
    spec["restartPolicy"] = "Never"
    spec["automountServiceAccountToken"] = False
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# --- the release ---------------------------------------------------------------------------------------


def test_helm_test_passes_on_the_release(release: Release) -> None:
    done = run([*release.helm, "test", RELEASE, "--timeout", "3m"])

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Phase:          Succeeded" in done.stdout


def test_each_deployment_is_ready_from_the_image_built_here(release: Release, kube: Kube) -> None:
    values = yaml.safe_load(release.values_file.read_text())
    deployments = kube.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")["items"]
    pods = kube.get(f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector="app.kubernetes.io/instance=mp4mp3")

    assert {d["metadata"]["name"] for d in deployments} == {
        f"mp4mp3-{c}" for c in ("auth", "gateway", "operator", "notification")
    }
    for deployment in deployments:
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"], deployment[
            "status"
        ]
    running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
    for pod in running:
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        image = values[component]["image"]
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"], status
        assert status["image"].endswith(f"{image['repository']}:{image['tag']}"), status["image"]
        assert json.dumps(pod["spec"]).count('"imagePullPolicy": "Never"') >= 1
