"""The API server stops during an upload: the gateway still answers 202 (the event carries the
request), and once the API server is back the operator creates the ConversionJob and it completes.

Runs against a throwaway control plane, broker and database of its own (port offset 500), with our
gateway and the operator as processes: the shared devstack's API server is never stopped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.config import ROOT, Config, Ports
from devstack.kube import Kube
from devstack.pki import PKI, kubeconfig
from devstack.process import port_open
from devstack.process import wait_until as wait_for
from devstack.samples import probe_codec, probe_duration, sample_video
from devstack.servers.base import Server
from devstack.servers.ferretdb import FerretDB
from devstack.servers.kubernetes import ControllerManager, Etcd, KubeAPIServer
from devstack.servers.postgres import Postgres
from devstack.servers.rabbitmq import RabbitMQ
from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER, NAMESPACE, SERVICES, Service
from devstack.stack import Stack
from tests.support.gateway_harness import GatewayProcess
from tests.support.gateway_world import SERVICE_ACCOUNT, User

pytestmark = [
    pytest.mark.devstack,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (ROOT / "conversion_operator" / "__main__.py").exists(),
        reason="the operator (conversion_operator/) is not written yet: nothing would create the "
        "ConversionJob from the event",
    ),
]

OFFSET = 500


@dataclass
class Throwaway:
    cfg: Config
    apiserver: KubeAPIServer
    servers: list[Server]
    gateway: GatewayProcess


@pytest.fixture(scope="module")
def throwaway(devstack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Throwaway]:
    cfg = Config(
        state=ROOT / ".devstack" / "scratch" / uuid.uuid4().hex,
        cache=Config.from_env().cache,
        ports=Ports(offset=OFFSET),
    )
    apiserver = KubeAPIServer(cfg)
    servers: list[Server] = [
        RabbitMQ(cfg),
        Postgres(cfg),  # FerretDB's storage: FerretDB starts it, but does not stop it
        FerretDB(cfg),
        Etcd(cfg),
        apiserver,
        ControllerManager(cfg),  # no node: one machine has one (the default devstack's)
    ]
    started: list[Server] = []
    gateway: GatewayProcess | None = None
    try:
        for server in servers:
            started.append(server)
            server.start()
        operator_spec = next(spec for spec in SERVICES if spec.name == "operator")
        operator = Service(cfg, operator_spec)  # its own env, ServiceAccount and RBAC, as `make up` runs it
        started.append(operator)
        operator.start()  # also applies the CRD, the namespace and deploy/rbac/*.yaml
        data = Stack(cfg).data_env()
        gateway = GatewayProcess(
            {
                "GATEWAY_MONGO_URI": data["MONGO_URI"],
                "GATEWAY_AMQP_URL": data["AMQP_URL"],
                "GATEWAY_AUTH_URL": devstack.env()["AUTH_URL"],  # the shared, real auth service
                "GATEWAY_JWKS_URL": f"{devstack.env()['AUTH_URL']}/.well-known/jwks.json",
                "GATEWAY_JWT_ISSUER": JWT_ISSUER,
                "GATEWAY_JWT_AUDIENCE": JWT_AUDIENCE,
                "GATEWAY_NAMESPACE": NAMESPACE,
                "KUBECONFIG": str(_gateway_kubeconfig(cfg)),
            },
            tmp_path_factory.mktemp("outage") / "gateway.log",
        ).start()
        yield Throwaway(cfg, apiserver, started, gateway)
    finally:
        if gateway is not None:
            gateway.stop()
        for server in reversed(started):
            server.stop()
        if not os.environ.get("MP4MP3_KEEP_SCRATCH"):  # keep the logs for a post-mortem
            shutil.rmtree(cfg.state, ignore_errors=True)


def _gateway_kubeconfig(cfg: Config) -> Path:
    """A kubeconfig holding a token of the gateway's ServiceAccount in the throwaway cluster."""
    admin = Kube.from_kubeconfig(cfg.kubeconfig)
    try:
        token = admin.service_account_token(NAMESPACE, SERVICE_ACCOUNT, 7200)
    finally:
        admin.close()
    config = kubeconfig(
        f"https://127.0.0.1:{cfg.ports.apiserver}",
        PKI(cfg.dir("pki")).path("ca.crt"),
        f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
        token=token,
        namespace=NAMESPACE,
    )
    target = cfg.dir("gateway") / "kubeconfig"
    target.write_text(yaml.safe_dump(config))
    return target


def test_upload_during_an_api_server_outage_is_accepted_and_completes_once_it_is_back(
    throwaway: Throwaway, signup: object, tmp_path: Path
) -> None:
    user: User = signup()  # type: ignore[operator]
    gateway, apiserver = throwaway.gateway, throwaway.apiserver
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
        wait_for(lambda: not port_open(throwaway.cfg.ports.apiserver), 30, "the API server to stop")
        yield data[len(data) // 2 :] + f"\r\n--{boundary}--\r\n".encode()

    resp = httpx.post(
        f"{gateway.url}/jobs",
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
        timeout=120,
    )

    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    during = httpx.get(f"{gateway.url}/jobs/{job_id}", headers=user.headers, timeout=30).json()
    assert during["phase"] == "Unknown"  # accepted; its status cannot be read while the API is down

    apiserver.start()

    def finished() -> dict | None:
        job = httpx.get(f"{gateway.url}/jobs/{job_id}", headers=user.headers, timeout=30).json()
        return job if job["phase"] in ("Succeeded", "Failed", "Cancelled") else None

    try:
        job = wait_for(finished, 240, "the job to complete after the outage", interval=1.0)
    except AssertionError as exc:
        operator_log = throwaway.cfg.dir("operator") / "operator.log"
        tail = "\n".join(operator_log.read_text(errors="replace").splitlines()[-40:])
        raise AssertionError(
            f"{exc}\n--- operator log ---\n{tail}\n--- gateway log ---\n{gateway.log_tail()}"
        ) from None
    assert job["phase"] == "Succeeded", job
    target = tmp_path / "out.mp3"
    mp3 = httpx.get(f"{gateway.url}/jobs/{job_id}/mp3", headers=user.headers, timeout=60)
    assert mp3.status_code == 200
    target.write_bytes(mp3.content)
    assert probe_codec(target) == "mp3"
    assert abs(probe_duration(target) - probe_duration(video)) < 0.2
