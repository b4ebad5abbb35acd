"""The world the bench's gateway lives in (a namespace with its RBAC, a database, a RabbitMQ vhost
of its own), the gateway process itself, and its peak RSS while a contender runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import psutil
import pymongo
import yaml
from pymongo.database import Database

from bench.gateway.results import MiB
from common.resources import GROUP, PLURAL, VERSION
from devstack.config import LOOPBACK, ROOT
from devstack.kube import ApiError, Kube
from devstack.pki import PKI, kubeconfig
from devstack.servers.kubernetes import KubeAPIServer
from devstack.servers.rabbitmq import management as _rabbit
from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER, cluster_setup
from devstack.stack import Stack

SERVICE_ACCOUNT = "mp4mp3-gateway"


@dataclass
class World:
    namespace: str
    db: Database
    admin: Kube
    env: dict[str, str]
    auth_url: str

    @property
    def cj_path(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"


@contextmanager
def world(stack: Stack, folder: Path) -> Iterator[World]:
    """A namespace with the gateway's RBAC, a database and a RabbitMQ vhost of the bench's own."""
    cfg = stack.cfg
    kubectl = str(cfg.binaries["KUBERNETES_BIN"] / "kubectl")
    cluster_setup(cfg, kubectl)
    tag = uuid.uuid4().hex[:8]
    namespace = f"gwbench-{tag}"
    admin = Kube.from_kubeconfig(cfg.kubeconfig)
    admin.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    data = stack.data_env()
    vhost = f"gwbench-{tag}"
    database = f"gwbench_{tag}"
    client: pymongo.MongoClient = pymongo.MongoClient(data["MONGO_URI"].rsplit("/", 1)[0] + "/" + database)
    try:
        subprocess.run(
            [
                kubectl,
                f"--kubeconfig={cfg.kubeconfig}",
                "apply",
                "-n",
                namespace,
                "-f",
                str(ROOT / "deploy" / "rbac"),
            ],
            check=True,
            capture_output=True,
        )
        token = _service_account_token(admin, namespace)
        kc = folder / "kubeconfig"
        user = f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
        api = KubeAPIServer(cfg).api_url  # NODE_IP only when the devstack runs a node
        kc.write_text(yaml.safe_dump(kubeconfig(api, PKI(cfg.dir("pki")).path("ca.crt"), user, token=token)))
        _rabbit(data["AMQP_URL"], cfg.ports.rabbitmq_management, "PUT", f"/api/vhosts/{vhost}")
        amqp_user = urlsplit(data["AMQP_URL"]).username or ""
        _rabbit(
            data["AMQP_URL"],
            cfg.ports.rabbitmq_management,
            "PUT",
            f"/api/permissions/{vhost}/{amqp_user}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        auth_url = stack["auth"].env()["AUTH_URL"]
        env = {
            "GATEWAY_MONGO_URI": data["MONGO_URI"].rsplit("/", 1)[0] + "/" + database,
            "GATEWAY_AMQP_URL": data["AMQP_URL"].rsplit("/", 1)[0] + "/" + quote(vhost, safe=""),
            "GATEWAY_AUTH_URL": auth_url,
            "GATEWAY_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
            "GATEWAY_JWT_ISSUER": JWT_ISSUER,
            "GATEWAY_JWT_AUDIENCE": JWT_AUDIENCE,
            "GATEWAY_NAMESPACE": namespace,
            "KUBECONFIG": str(kc),
        }
        yield World(namespace, client.get_default_database(), admin, env, auth_url)
    finally:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        for item in admin.get(path)["items"]:  # no operator here to remove its finalizer
            admin.patch(f"{path}/{item['metadata']['name']}", {"metadata": {"finalizers": None}})
        admin.delete(f"/api/v1/namespaces/{namespace}")
        admin.close()
        _rabbit(data["AMQP_URL"], cfg.ports.rabbitmq_management, "DELETE", f"/api/vhosts/{vhost}")
        client.drop_database(database)
        client.close()


def _service_account_token(admin: Kube, namespace: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            return admin.service_account_token(namespace, SERVICE_ACCOUNT, 7200)
        except ApiError as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def gateway_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, psutil.Process]]:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    url = f"http://{LOOPBACK}:{port}"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full_env.update({"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", "GATEWAY_PUBLIC_URL": url, **env})
    argv = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
    argv += ["--host", LOOPBACK, "--port", str(port), "--no-access-log"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=full_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


class PeakRss:
    """Samples a process's RSS every 20 ms while in the ``with`` block."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self.before = proc.memory_info().rss
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / MiB
