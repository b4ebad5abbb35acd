"""Fixtures for the operator's tests: worlds of their own on the devstack's servers (a namespace
with the operator's RBAC, a MongoDB database, a RabbitMQ vhost with a tap on the outcome events),
each with real operator processes from this checkout, running under the operator's ServiceAccount.

The devstack's own operator watches namespace mp4mp3 only, so it never meets these worlds."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import gridfs
import pymongo
import pytest
import yaml
from operator_harness import EventTap, OperatorProcess, make_video

from common.resources import CHUNK_SIZE, GROUP, JOB_LABEL, OWNER_LABEL, PLURAL, VERSION, job_name
from devstack.config import ROOT
from devstack.kube import ApiError, Kube
from devstack.pki import PKI, kubeconfig
from devstack.process import wait_until as wait_for
from devstack.servers.kubernetes import KubeAPIServer
from devstack.servers.rabbitmq import management as _rabbit_admin
from devstack.servers.services import cluster_setup
from devstack.stack import NODE, Stack

NEEDED = ["rabbitmq", "ferretdb", "etcd", "kube-apiserver", "kube-controller-manager", *NODE]
SERVICE_ACCOUNT = "mp4mp3-operator"
HEALTH_PORTS = itertools.count(38400)  # this suite's range: 38400-38409


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to what the operator needs. Stops only what it started."""
    stack = Stack()
    was_up = all(server.running() for server in stack.select(NEEDED))
    stack.up(NEEDED)
    os.environ.update({k: v for k, v in stack.data_env().items()})
    yield stack
    if not was_up and not os.environ.get("MP4MP3_KEEP_DEVSTACK"):
        stack.down(NEEDED)


@pytest.fixture(scope="session")
def admin(devstack: Stack) -> Iterator[Kube]:
    client = Kube.from_kubeconfig(devstack.cfg.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kubectl(devstack: Stack) -> list[str]:
    return [
        str(devstack.cfg.binaries["KUBERNETES_BIN"] / "kubectl"),
        f"--kubeconfig={devstack.cfg.kubeconfig}",
    ]


@dataclass
class World:
    """One namespace + database + vhost, the operators running on it, and ways to look at it."""

    tag: str
    namespace: str
    mongo_uri: str
    amqp_url: str
    kubeconfig: Path
    folder: Path
    admin: Kube
    kubectl_argv: list[str]
    db: Any  # pymongo Database
    tap: EventTap
    operators: list[OperatorProcess] = field(default_factory=list)

    # -- operators --------------------------------------------------------------------------------

    def operator_env(self, **overrides: str) -> dict[str, str]:
        return {
            "OPERATOR_NAMESPACE": self.namespace,
            "OPERATOR_AMQP_URL": self.amqp_url,
            "OPERATOR_MONGO_URI": self.mongo_uri,
            "OPERATOR_HEALTH_HOST": "127.0.0.1",
            "OPERATOR_HEALTH_PORT": str(next(HEALTH_PORTS)),
            "OPERATOR_PEERING_NAME": f"mp4mp3-operator-{self.tag}",
            "OPERATOR_PEER_ID": f"test-{self.tag}-{len(self.operators)}",
            "OPERATOR_CONVERTER_IMAGE": "mp4mp3/converter:test",
            "OPERATOR_CONVERTER_MONGO_URI": self.mongo_uri,
            "KUBECONFIG": str(self.kubeconfig),
            **overrides,
        }

    def start_operator(self, **overrides: str) -> OperatorProcess:
        proc = OperatorProcess(
            self.operator_env(**overrides), self.folder / f"operator-{len(self.operators)}.log"
        )
        self.operators.append(proc)
        return proc.start()

    # -- ConversionJobs ---------------------------------------------------------------------------

    @property
    def cj_path(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"

    def put_video(self, path: Path, owner: str = "u-1") -> dict[str, Any]:
        """Store a video as the gateway does; returns the ConversionJob's spec.source for it."""
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        meta = {
            "owner": owner,
            "filename": path.name,
            "size": len(data),
            "sha256": sha,
            "contentType": "video/mp4",
        }
        bucket = gridfs.GridFSBucket(self.db, bucket_name="videos", chunk_size_bytes=CHUNK_SIZE)
        video_id = bucket.upload_from_stream(path.name, data, metadata=meta)
        return {"videoId": str(video_id), "filename": path.name, "size": len(data), "sha256": sha}

    def manifest(self, source: dict[str, Any], owner: str = "u-1", **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ConversionJob",
            "metadata": {
                "name": job_name(source["videoId"]),
                "namespace": self.namespace,
                "labels": {OWNER_LABEL: owner},
            },
            "spec": {"source": source, "owner": {"userId": owner, "email": f"{owner}@example.com"}, **spec},
        }

    def submit(self, video: Path, owner: str = "u-1", **spec: Any) -> str:
        """Store the video and kubectl-apply a ConversionJob for it; returns its name."""
        manifest = self.manifest(self.put_video(video, owner), owner, **spec)
        done = self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        assert done.returncode == 0, done.stderr
        return str(manifest["metadata"]["name"])

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.kubectl_argv, "-n", self.namespace, *args], input=stdin, capture_output=True, text=True
        )

    def conversionjob(self, name: str) -> dict[str, Any] | None:
        try:
            return self.admin.get(f"{self.cj_path}/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def status(self, name: str) -> dict[str, Any]:
        found = self.conversionjob(name)
        return dict((found or {}).get("status") or {})

    def wait_phase(self, name: str, *phases: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the ConversionJob's phase is one of ``phases``; returns its status."""
        wait_for(
            lambda: self.status(name).get("phase") in phases, timeout, f"{name} to be {'/'.join(phases)}"
        )
        return self.status(name)

    def wait_settled(self, name: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until it finished and its outcome event is published."""

        def settled() -> dict[str, Any] | None:
            st = self.status(name)
            return (
                st
                if st.get("phase") in ("Succeeded", "Failed") and st.get("outcomePublished") == st["phase"]
                else None
            )

        return dict(wait_for(settled, timeout, f"{name}'s outcome to be published"))

    def objects(self, kind: str, name: str) -> list[dict[str, Any]]:
        """jobs, pods, serviceaccounts, roles or rolebindings made for a ConversionJob."""
        api = {
            "jobs": f"/apis/batch/v1/namespaces/{self.namespace}/jobs",
            "pods": f"/api/v1/namespaces/{self.namespace}/pods",
            "serviceaccounts": f"/api/v1/namespaces/{self.namespace}/serviceaccounts",
            "roles": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.namespace}/roles",
            "rolebindings": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.namespace}/rolebindings",
        }[kind]
        return list(self.admin.get(api, labelSelector=f"{JOB_LABEL}={name}")["items"])

    def mp3s_of(self, name: str) -> list[dict[str, Any]]:
        return list(self.db["mp3s.files"].find({"metadata.job": name}))

    def events_of(self, name: str) -> list[dict[str, Any]]:
        """Kubernetes Events recorded on the ConversionJob, oldest first."""
        events = self.admin.get(
            f"/api/v1/namespaces/{self.namespace}/events",
            fieldSelector=f"involvedObject.name={name},involvedObject.kind=ConversionJob",
        )["items"]
        return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    # -- teardown ---------------------------------------------------------------------------------

    def close(self) -> None:
        # the operators are still up: deleting the ConversionJobs runs their finalizer
        for item in self.admin.get(self.cj_path)["items"]:
            _quietly(self.admin.delete, f"{self.cj_path}/{item['metadata']['name']}")
        # an operator of this world may be stopped on purpose: the finalizers are dropped below
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not self.admin.get(self.cj_path)["items"], 60, "ConversionJobs to be cleaned up")
        for proc in self.operators:
            proc.stop()
        for item in self.admin.get(self.cj_path)["items"]:
            _quietly(
                self.admin.patch,
                f"{self.cj_path}/{item['metadata']['name']}",
                {"metadata": {"finalizers": None}},
            )
        _quietly(self.admin.delete, f"/api/v1/namespaces/{self.namespace}")


def _quietly(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise


class Worlds:
    """Makes worlds on demand; closes them all at the end of the session."""

    def __init__(self, devstack: Stack, admin: Kube, kubectl: list[str], scratch: Path) -> None:
        self.devstack, self.admin, self.kubectl, self.scratch = devstack, admin, kubectl, scratch
        self.made: list[tuple[World, str, str]] = []

    def new(self) -> World:
        cfg = self.devstack.cfg
        tag = uuid.uuid4().hex[:8]
        namespace = f"op-{tag}"
        self.admin.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        self._apply_rbac(namespace)
        token = wait_for(
            lambda: _token(self.admin, namespace), 30, "a token for the operator's ServiceAccount"
        )
        folder = self.scratch / f"operator-{tag}"
        folder.mkdir(parents=True)
        kc = folder / "kubeconfig"
        api = KubeAPIServer(cfg).api_url  # NODE_IP only when the devstack runs a node
        ca = PKI(cfg.dir("pki")).path("ca.crt")
        user = f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
        kc.write_text(yaml.safe_dump(kubeconfig(api, ca, user, token=token, namespace=namespace)))

        env = self.devstack.data_env()
        vhost = f"op-{tag}"
        _rabbit_admin(env["AMQP_URL"], cfg.ports.rabbitmq_management, "PUT", f"/api/vhosts/{vhost}")
        user_name = urlsplit(env["AMQP_URL"]).username or ""
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        _rabbit_admin(
            env["AMQP_URL"],
            cfg.ports.rabbitmq_management,
            "PUT",
            f"/api/permissions/{vhost}/{user_name}",
            permissions,
        )
        amqp_url = env["AMQP_URL"].rsplit("/", 1)[0] + "/" + quote(vhost, safe="")
        database = f"optest_{tag}"
        mongo_uri = env["MONGO_URI"].rsplit("/", 1)[0] + "/" + database
        client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
        tap = EventTap(amqp_url).bind()
        world = World(
            tag,
            namespace,
            mongo_uri,
            amqp_url,
            kc,
            folder,
            self.admin,
            self.kubectl,
            client.get_default_database(),
            tap,
        )
        self.made.append((world, database, vhost))
        return world

    def _apply_rbac(self, namespace: str) -> None:
        docs = list(yaml.safe_load_all((ROOT / "deploy" / "rbac" / "operator.yaml").read_text()))
        for doc in docs:
            for subject in doc.get("subjects", []):
                subject["namespace"] = namespace
        done = subprocess.run(
            [*self.kubectl, "apply", "-n", namespace, "-f", "-"],
            input=yaml.safe_dump_all(docs),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr

    def close(self) -> None:
        env = self.devstack.data_env()
        for world, database, vhost in self.made:
            world.close()
            world.db.client.drop_database(database)
            world.db.client.close()
            _rabbit_admin(
                env["AMQP_URL"], self.devstack.cfg.ports.rabbitmq_management, "DELETE", f"/api/vhosts/{vhost}"
            )
            if not os.environ.get("MP4MP3_KEEP_TEST_LOGS"):
                shutil.rmtree(world.folder, ignore_errors=True)


def _token(admin: Kube, namespace: str) -> str | None:
    try:
        return admin.service_account_token(namespace, SERVICE_ACCOUNT, 7200)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


@pytest.fixture(scope="session")
def worlds(devstack: Stack, admin: Kube, kubectl: list[str]) -> Iterator[Worlds]:
    cluster_setup(devstack.cfg, kubectl[0])  # the CRDs, idempotently
    made = Worlds(devstack, admin, kubectl, devstack.cfg.dir("scratch"))
    yield made
    made.close()


@pytest.fixture(scope="session")
def world(worlds: Worlds) -> World:
    """The world most tests share, with one operator running on it."""
    made = worlds.new()
    made.start_operator()
    return made


@pytest.fixture(scope="session")
def media(devstack: Stack) -> Iterator[Path]:
    """Test videos, made once per session."""
    folder = devstack.cfg.dir("scratch") / f"operator-media-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    make_video(folder / "talk.mp4", 5)
    make_video(folder / "index-at-end.mp4", 6, faststart=False)
    make_video(folder / "silent.mp4", 4, audio=False)
    make_video(folder / "lecture.mp4", 900, stereo=True)  # long enough to be caught mid-conversion
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
