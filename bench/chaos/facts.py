"""What the world looks like after the soak, read from its sources: the mailbox, GridFS, the MP3s as
the API serves them, Kubernetes and RabbitMQ. Plain data out, for ``invariants`` to judge."""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import subprocess
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId

from bench.chaos.client import User
from common.resources import GROUP, JOB_LABEL, JOBS_COLLECTION, MP3S_BUCKET, PLURAL, VERSION, VIDEOS_BUCKET
from devstack.kube import Kube
from devstack.samples import probe_duration
from devstack.servers.release import NAMESPACE

PARKED_SUFFIX = ".parked"
PARKED_REASON = "mp4mp3-parked-reason"
# what a job leaves in Kubernetes, by the label the operator puts on each (JOB_LABEL: its name)
LABELLED = {
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


@dataclasses.dataclass(frozen=True)
class Mail:
    job: str
    to: str
    file: str


def mails(mail_dir: Path, since: float) -> list[Mail]:
    """Every mail the sink accepted since ``since`` (its file's mtime), with the job it is about."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    out = []
    for path in sorted(mail_dir.glob("*.eml")):
        if path.stat().st_mtime < since:
            continue
        with path.open("rb") as fh:
            headers = parser.parse(fh)
        to = str(headers.get("X-Envelope-To") or headers.get("To") or "")
        out.append(Mail(str(headers.get("X-Mp4mp3-Job") or ""), to.lower(), path.name))
    return out


@dataclasses.dataclass(frozen=True)
class Mp3:
    """A Succeeded job's audio: its copies in GridFS, and the file the API serves, as ffprobe reads it."""

    job: str
    copies: int
    status: int | None  # GET /jobs/{id}/mp3
    seconds: float | None  # None: did not decode
    error: str = ""


def mp3_of(db: Any, user: User, job_id: str) -> Mp3:
    copies = db[f"{MP3S_BUCKET}.files"].count_documents({"metadata.job": job_id})
    resp = user.call("GET", f"/jobs/{job_id}/mp3", "/jobs/{id}/mp3")
    if resp is None or resp.status_code != 200:
        return Mp3(job_id, copies, resp.status_code if resp is not None else None, None, "no download")
    with tempfile.NamedTemporaryFile(suffix=".mp3") as fh:
        fh.write(resp.content)
        fh.flush()
        try:
            return Mp3(job_id, copies, 200, probe_duration(Path(fh.name)))
        except (subprocess.CalledProcessError, ValueError, IndexError) as exc:
            return Mp3(job_id, copies, 200, None, f"ffprobe: {exc}")


def gridfs_left(
    db: Any, owners: list[str], video_ids: list[ObjectId], mp3_ids: list[ObjectId]
) -> dict[str, int]:
    """Files, chunks and gateway records of these owners and jobs still in MongoDB."""
    out = {}
    for bucket, ids in ((VIDEOS_BUCKET, video_ids), (MP3S_BUCKET, mp3_ids)):
        out[f"{bucket}.files"] = db[f"{bucket}.files"].count_documents({"metadata.owner": {"$in": owners}})
        out[f"{bucket}.chunks"] = db[f"{bucket}.chunks"].count_documents({"files_id": {"$in": ids}})
    out[JOBS_COLLECTION] = db[JOBS_COLLECTION].count_documents({"owner": {"$in": owners}})
    return out


def kube_left(kube: Kube, names: set[str]) -> dict[str, list[str]]:
    """ConversionJobs and the objects made for them (by JOB_LABEL) that still exist."""
    left: dict[str, list[str]] = {}
    crs = kube.get(f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}")["items"]
    left["ConversionJob"] = sorted(n for n in (c["metadata"]["name"] for c in crs) if n in names)
    for kind, path in LABELLED.items():
        items = kube.get(path.format(ns=NAMESPACE), labelSelector=JOB_LABEL)["items"]
        mine = [i["metadata"]["name"] for i in items if i["metadata"]["labels"].get(JOB_LABEL) in names]
        left[kind] = sorted(mine)
    return left


def conversion_jobs(kube: Kube, names: set[str]) -> dict[str, dict[str, Any]]:
    """The ConversionJobs of these names that exist now."""
    crs = kube.get(f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}")["items"]
    return {c["metadata"]["name"]: c for c in crs if c["metadata"]["name"] in names}


@dataclasses.dataclass(frozen=True)
class Queue:
    name: str
    messages: int
    parked: list[dict[str, Any]]  # for a parking queue: each message's job, routing key and reason


def queues(amqp_url: str, port: int) -> list[Queue]:
    """Every queue of the default vhost with its message count; a parking queue's messages read
    (and requeued) through the management API, with their reasons."""
    parts = urllib.parse.urlsplit(amqp_url)
    auth = (parts.username or "", urllib.parse.unquote(parts.password or ""))
    base = f"http://{parts.hostname}:{port}/api/queues/%2F"
    with httpx.Client(auth=auth, timeout=30) as http:
        out = []
        for q in http.get(base).raise_for_status().json():
            name, count = q["name"], int(q.get("messages") or 0)
            parked = (
                _peek(http, f"{base}/{urllib.parse.quote(name, safe='')}/get", count)
                if (name.endswith(PARKED_SUFFIX) and count)
                else []
            )
            out.append(Queue(name, count, parked))
        return out


def _peek(http: httpx.Client, url: str, count: int) -> list[dict[str, Any]]:
    body = {"count": count, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 20000}
    out = []
    for msg in http.post(url, json=body).raise_for_status().json():
        headers = (msg.get("properties") or {}).get("headers") or {}
        out.append(
            {
                "routing_key": msg.get("routing_key"),
                "reason": headers.get(PARKED_REASON, ""),
                "payload": str(msg.get("payload", ""))[:300],
            }
        )
    return out
