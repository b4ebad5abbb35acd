"""The gateway's world (tests/support/world.py): a namespace under the gateway's RBAC where no
operator runs, and what its tests look at there; users of the real auth service."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import gridfs
import httpx
import pika

from common.resources import OWNER_LABEL, mp3_id
from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER
from tests.support.world import World

REQUESTED_QUEUE = "operator.requested"


@dataclass
class GatewayWorld(World):
    """Where the test gateways live (no operator runs here), and what the tests look at in it."""

    ROLE = "gateway"
    PREFIX = "gw"

    auth_url: str = ""  # the devstack's real auth service (set by the ``world`` fixture)

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


SERVICE_ACCOUNT = GatewayWorld.service_account()  # the devstack's gateway runs as this one too


@dataclass
class User:
    """A user of the real auth service, logged in."""

    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(auth_url: str, prefix: str = "gw") -> User:
    """A new user of the real auth service at ``auth_url``, logged in."""
    email = f"{prefix}-{secrets.token_hex(5)}@mp4mp3.localhost"
    password = secrets.token_urlsafe(16)
    with httpx.Client(base_url=auth_url, timeout=30) as http:
        created = http.post("/signup", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
        login = http.post("/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
    return User(str(created.json()["id"]), email, login.json()["access_token"])
