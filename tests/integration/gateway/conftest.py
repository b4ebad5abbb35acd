"""Fixtures for the gateway's tests: a world of its own on the devstack's servers (a namespace
with the gateway's RBAC, a MongoDB database, a RabbitMQ vhost), real gateway processes in it,
and users signed up at the real auth service."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import gridfs
import httpx
import pika
import pymongo
import pytest
import yaml
from gateway_harness import GatewayProcess, TestKeys

from common.resources import GROUP, OWNER_LABEL, PLURAL, VERSION, mp3_id
from devstack.config import ROOT
from devstack.kube import ApiError, Kube
from devstack.pki import PKI, kubeconfig
from devstack.process import wait_until as wait_for
from devstack.servers.kubernetes import KubeAPIServer
from devstack.servers.rabbitmq import management as _rabbit_admin
from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER, cluster_setup
from devstack.stack import Stack

NEEDED = [
    "mariadb",
    "rabbitmq",
    "postgres",
    "ferretdb",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "auth",
]
SERVICE_ACCOUNT = "mp4mp3-gateway"
REQUESTED_QUEUE = "operator.requested"


@pytest.fixture(scope="session")
def devstack() -> Iterator[Stack]:
    """The devstack narrowed to what the gateway needs: a sibling service that is half written
    cannot fail these tests. Stops only what it started (unless MP4MP3_KEEP_DEVSTACK)."""
    stack = Stack()
    was_up = all(server.running() for server in stack.select(NEEDED))
    stack.up(NEEDED)
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
    """Where the test gateways live: their namespace, database and vhost, and admin access."""

    namespace: str
    mongo_uri: str
    amqp_url: str
    kubeconfig: Path
    auth_url: str
    admin: Kube
    db: Any  # pymongo Database

    @property
    def cj_path(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "GATEWAY_MONGO_URI": self.mongo_uri,
            "GATEWAY_AMQP_URL": self.amqp_url,
            "GATEWAY_AUTH_URL": self.auth_url,
            "GATEWAY_JWKS_URL": f"{self.auth_url}/.well-known/jwks.json",
            "GATEWAY_JWT_ISSUER": JWT_ISSUER,
            "GATEWAY_JWT_AUDIENCE": JWT_AUDIENCE,
            "GATEWAY_NAMESPACE": self.namespace,
            "KUBECONFIG": str(self.kubeconfig),
            **overrides,
        }

    def resources_of(self, owner: str) -> list[dict[str, Any]]:
        return list(self.admin.get(self.cj_path, labelSelector=f"{OWNER_LABEL}={owner}")["items"])

    def resource(self, name: str) -> dict[str, Any] | None:
        try:
            return self.admin.get(f"{self.cj_path}/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def queued_requests(self) -> list[dict[str, Any]]:
        """Drain the vhost's operator.requested queue (as the operator would) and return the bodies."""
        conn = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            channel = conn.channel()
            bodies: list[dict[str, Any]] = []
            while True:
                method, _, body = channel.basic_get(REQUESTED_QUEUE, auto_ack=True)
                if method is None:
                    return bodies
                bodies.append(json.loads(body))
        finally:
            conn.close()

    def stored(self, owner: str) -> dict[str, int]:
        """What the database holds for an owner, and the chunks in all (partial files have no owner)."""
        return {
            "videos": self.db["videos.files"].count_documents({"metadata.owner": owner}),
            "chunks": self.db["videos.chunks"].count_documents({}),
            "jobs": self.db["jobs"].count_documents({"owner": owner}),
        }

    def complete(self, job_id: str, mp3: bytes, owner: str, filename: str = "video.mp3") -> None:
        """Do what the converter and the operator do when a conversion succeeds: store the MP3 under
        the id derived from the resource's uid and write the Succeeded status."""
        resource = self.admin.get(f"{self.cj_path}/{job_id}")
        file_id = mp3_id(resource["metadata"]["uid"])
        bucket = gridfs.GridFSBucket(self.db, bucket_name="mp3s", chunk_size_bytes=128 * 1024)
        bucket.upload_from_stream_with_id(
            file_id, filename, mp3, metadata={"owner": owner, "job": job_id, "filename": filename}
        )
        self.set_status(job_id, phase="Succeeded", progress=100, mp3Id=str(file_id), mp3Size=len(mp3))

    def set_status(self, job_id: str, **status: Any) -> None:
        self.admin.patch(f"{self.cj_path}/{job_id}/status", {"status": status})


@pytest.fixture(scope="session")
def world(devstack: Stack, admin: Kube, kubectl: list[str]) -> Iterator[World]:
    cfg = devstack.cfg
    cluster_setup(cfg, kubectl[0])  # the CRD (idempotent; normally done when a service starts)
    tag = uuid.uuid4().hex[:8]
    namespace = f"gw-{tag}"
    admin.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    subprocess.run(
        [*kubectl, "apply", "-n", namespace, "-f", str(ROOT / "deploy" / "rbac" / "gateway.yaml")],
        check=True,
        capture_output=True,
    )
    token = wait_for(lambda: _token(admin, namespace), 30, "a token for the gateway's ServiceAccount")
    folder = cfg.dir("scratch") / f"gateway-{tag}"
    folder.mkdir(parents=True)
    kc = folder / "kubeconfig"
    api = KubeAPIServer(cfg).api_url  # NODE_IP only when the devstack runs a node
    ca = PKI(cfg.dir("pki")).path("ca.crt")
    user = f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
    kc.write_text(yaml.safe_dump(kubeconfig(api, ca, user, token=token, namespace=namespace)))

    env = devstack.data_env()
    vhost = f"gw-{tag}"
    management = cfg.ports.rabbitmq_management
    _rabbit_admin(env["AMQP_URL"], management, "PUT", f"/api/vhosts/{vhost}")
    user_name = urlsplit(env["AMQP_URL"]).username or ""
    _rabbit_admin(
        env["AMQP_URL"],
        management,
        "PUT",
        f"/api/permissions/{vhost}/{user_name}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    amqp_url = env["AMQP_URL"].rsplit("/", 1)[0] + "/" + quote(vhost, safe="")
    database = f"gwtest_{tag}"
    mongo_uri = env["MONGO_URI"].rsplit("/", 1)[0] + "/" + database
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
    auth_url = devstack.env()["AUTH_URL"]
    yield World(namespace, mongo_uri, amqp_url, kc, auth_url, admin, client.get_default_database())
    client.drop_database(database)
    client.close()
    _rabbit_admin(env["AMQP_URL"], management, "DELETE", f"/api/vhosts/{vhost}")
    # no operator runs here to remove its finalizer: without this the namespace would never go
    for item in admin.get(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}")["items"]:
        name = item["metadata"]["name"]
        admin.patch(
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}",
            {"metadata": {"finalizers": None}},
        )
    admin.delete(f"/api/v1/namespaces/{namespace}")
    shutil.rmtree(folder, ignore_errors=True)


def _token(admin: Kube, namespace: str) -> str | None:
    try:
        return admin.service_account_token(namespace, SERVICE_ACCOUNT, 7200)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


@pytest.fixture(scope="session")
def start_gateway(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., GatewayProcess]]:
    """start_gateway(GATEWAY_X="...", ready=True) -> a running gateway in the test world; all are
    stopped at the end of the session."""
    started: list[GatewayProcess] = []
    logs = tmp_path_factory.mktemp("gateway-logs")

    def start(ready: bool = True, **overrides: str) -> GatewayProcess:
        proc = GatewayProcess(world.env(**overrides), logs / f"gateway-{len(started)}.log")
        started.append(proc)
        return proc.start(ready=ready)

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """The gateway most tests use: default settings, real auth."""
    return start_gateway()


@dataclass
class User:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def signup(world: World) -> Callable[[], User]:
    """signup() -> a new user of the real auth service, logged in."""

    def make() -> User:
        email = f"gw-{secrets.token_hex(5)}@mp4mp3.localhost"
        password = secrets.token_urlsafe(16)
        with httpx.Client(base_url=world.auth_url, timeout=30) as http:
            created = http.post("/signup", json={"email": email, "password": password})
            assert created.status_code == 201, created.text
            login = http.post("/login", json={"email": email, "password": password})
            assert login.status_code == 200, login.text
        return User(str(created.json()["id"]), email, login.json()["access_token"])

    return make


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def test_keys() -> Iterator[TestKeys]:
    keys = TestKeys()
    keys.add("key-1")
    yield keys
    keys.close()
