"""Names of the ConversionJob resource, its labels and annotations, how jobs, files and resources
are named from each other, and the one ConversionJob manifest (the gateway's and the operator's)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

GROUP = "mp4mp3.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ConversionJob"
PLURAL = "conversionjobs"

# GridFS buckets
VIDEOS_BUCKET = "videos"
MP3S_BUCKET = "mp3s"
# the parts of a long video's audio, encoded by the pods of one Indexed Job, until one joins them
SEGMENTS_BUCKET = "segments"
SEGMENTS_DONE = f"{SEGMENTS_BUCKET}.done"  # per run (the Job's uid): the indexes stored, so one pod joins
# the gateway's record of each job (owner, upload, options): the operator forgets it on expiry
JOBS_COLLECTION = "jobs"
# FerretDB answers getMore with up to 250 documents whatever their size; 250 x 255 KiB (pymongo's
# default chunk) would exceed the 48 MB wire message limit. 128 KiB is valid on MongoDB too.
CHUNK_SIZE = 128 * 1024

# labels and annotations
OWNER_LABEL = f"{GROUP}/owner"  # the user id (JWT sub)
JOB_LABEL = f"{GROUP}/conversionjob"  # on Jobs, pods, Roles made for a ConversionJob
FINALIZER = f"{GROUP}/cleanup"
UID_ANNOTATION = f"{GROUP}/conversionjob-uid"  # on the converter's pod: whose status it patches
RETRY_ANNOTATION = f"{GROUP}/retry"  # a new value re-runs a Failed ConversionJob (gateway, kubectl, k9s)
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # on converter Jobs when Kueue admits them
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"  # Kubernetes puts it on a Job's pods
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"  # an Indexed Job's pod's index
# the Kubernetes recommended labels we set
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CREATED_BY_LABEL = "app.kubernetes.io/created-by"


def job_name(video_id: str) -> str:
    """The ConversionJob (and batch Job) name for an uploaded video: deterministic, DNS-safe."""
    return f"cj-{video_id}"


def video_id_of(name: str) -> str | None:
    """Inverse of ``job_name``; None when ``name`` is not one of ours."""
    if name.startswith("cj-") and len(name) == 27 and all(c in "0123456789abcdef" for c in name[3:]):
        return name[3:]
    return None


def series_job_name(name: str, series: int) -> str:
    """The converter Job of a ConversionJob's ``series``-th run (0: the first; a retry starts the next)."""
    return name if series == 0 else f"{name}-r{series}"


def mp3_id(job_uid: str) -> ObjectId:
    """The MP3's GridFS id, derived from the ConversionJob's uid: a retried conversion writes the
    same id, so there is never a second copy."""
    return ObjectId(hashlib.sha256(f"mp3:{job_uid}".encode()).digest()[:12])


def conversion_job_labels(owner: str) -> dict[str, str]:
    """The labels of a ConversionJob made for an upload (the gateway's; the event carries them)."""
    return {OWNER_LABEL: owner, PART_OF_LABEL: "mp4mp3", CREATED_BY_LABEL: "mp4mp3-gateway"}


def conversion_job(
    name: str, namespace: str, spec: Mapping[str, Any], labels: Mapping[str, str]
) -> dict[str, Any]:
    """The ConversionJob resource for an accepted upload, with the operator's finalizer already on:
    a job deleted before the operator first saw it still has its files cleaned up. The gateway
    creates it; the operator creates the same from ``conversion.requested`` when the gateway could
    not."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "finalizers": [FINALIZER],
        },
        "spec": dict(spec),
    }
