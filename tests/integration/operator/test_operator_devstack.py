"""The devstack's host-process operator (namespace mp4mp3, its ServiceAccount's RBAC, started by
name; `make up` runs the chart's) converts a ConversionJob applied with kubectl, its converter a
pod on the node from the image built here, and cleans up when it is deleted."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from pathlib import Path

import gridfs
import pymongo
import pytest
import yaml
from bson import ObjectId

from common.resources import CHUNK_SIZE, GROUP, OWNER_LABEL, PLURAL, VERSION, job_name
from devstack.kube import ApiError, Kube
from devstack.process import wait_until as wait_for
from devstack.servers.services import NAMESPACE
from devstack.stack import Stack

pytestmark = pytest.mark.devstack


# serial: the host operator watches the release's namespace beside the release's own operator
@pytest.mark.serial
def test_devstack_operator_converts_an_applied_conversionjob(
    devstack: Stack, admin: Kube, kubectl: list[str], media: Path
) -> None:
    started = not devstack["operator"].running()
    devstack.up(["operator"])
    try:
        converts_an_applied_conversionjob(devstack, admin, kubectl, media)
    finally:
        if started:  # a second operator left on the release's namespace would act for it
            devstack.down(["operator"])


def converts_an_applied_conversionjob(devstack: Stack, admin: Kube, kubectl: list[str], media: Path) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(devstack.data_env()["MONGO_URI"])
    db = client.get_default_database()
    video = media / "talk.mp4"
    data, owner = video.read_bytes(), f"op-devstack-{uuid.uuid4().hex[:6]}"
    meta = {
        "owner": owner,
        "filename": video.name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    videos = gridfs.GridFSBucket(db, bucket_name="videos", chunk_size_bytes=CHUNK_SIZE)
    video_id = str(videos.upload_from_stream(video.name, data, metadata={**meta, "contentType": "video/mp4"}))
    name = job_name(video_id)
    manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ConversionJob",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {OWNER_LABEL: owner}},
        "spec": {
            "source": {
                "videoId": video_id,
                "filename": video.name,
                "size": len(data),
                "sha256": meta["sha256"],
            },
            "owner": {"userId": owner, "email": f"{owner}@example.com"},
        },
    }
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{name}"
    applied = subprocess.run(
        [*kubectl, "apply", "-f", "-"], input=yaml.safe_dump(manifest), capture_output=True, text=True
    )
    assert applied.returncode == 0, applied.stderr
    try:
        status = wait_for(
            lambda: (
                (admin.get(path).get("status") or {}).get("phase") in ("Succeeded", "Failed")
                and admin.get(path)["status"]
            ),
            120,
            f"{name} to finish",
        )
        assert status["phase"] == "Succeeded", status.get("message")
        assert db["mp3s.files"].count_documents({"_id": ObjectId(status["mp3Id"]), "metadata.job": name}) == 1
    finally:
        deleted = subprocess.run(
            [*kubectl, "delete", "-n", NAMESPACE, "cvj", name, "--timeout=60s"], capture_output=True
        )
        db.client.close()
    assert deleted.returncode == 0
    with pytest.raises(ApiError):
        admin.get(path)
