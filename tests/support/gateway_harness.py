"""Helpers for the gateway's tests: a real uvicorn gateway process, a JWKS server of our own on a
loopback socket, multipart bodies streamed from generators, MP4-looking payloads. The gateway's
world is in gateway_world.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.config import LOOPBACK, ROOT
from devstack.process import wait_until as wait_for
from gateway.settings import Settings

MiB = 1024 * 1024
ISSUER, AUDIENCE = "mp4mp3-auth", "mp4mp3"
# an ISO-BMFF ftyp box: size 24, "ftyp", major brand isom, minor version, two compatible brands
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


# Ports for the tests' own servers (gateways, operators' health endpoints, webhook receivers):
# below the devstack's (20379 and up) and below Linux's ephemeral range (32768-60999), so no
# outgoing connection can take one between free_port() and the server's bind; a block per xdist
# worker, so that two workers never pick the same one.
TEST_PORTS_START, TEST_PORTS_PER_WORKER = 10_000, 1_000
_next_port = itertools.count(random.randrange(TEST_PORTS_PER_WORKER))


def free_port() -> int:
    """A loopback port no one listens on, from this worker's block."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw9").removeprefix("gw")  # gw9: no xdist
    block = TEST_PORTS_START + TEST_PORTS_PER_WORKER * (int(worker) % 10)
    for _ in range(TEST_PORTS_PER_WORKER):
        port = block + next(_next_port) % TEST_PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue  # in use, or still in TIME_WAIT after a test's server
            return port
    raise RuntimeError(f"no free port in {block}-{block + TEST_PORTS_PER_WORKER - 1}")


# -- the gateway as a process ---------------------------------------------------------------------


@dataclass
class GatewayProcess:
    """``uvicorn gateway.app:create_app --factory`` with the given GATEWAY_* env, on a free port."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, ready: bool = True, timeout: float = 60) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update({"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO", "GATEWAY_PUBLIC_URL": self.url, **self.env})
        argv = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
        argv += ["--host", LOOPBACK, "--port", str(self.port), "--no-access-log"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        path = "/readyz" if ready else "/healthz"
        wait_for(lambda: self._answers(path), timeout, f"the gateway's {path} ({self.log_tail()})")
        return self

    def _answers(self, path: str) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the gateway exited:\n{self.log_tail()}")
        try:
            return httpx.get(self.url + path, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; ``peak`` is the largest seen."""

    def __init__(self, read: Callable[[], int], interval: float = 0.02) -> None:
        self._read = read
        self._interval = interval
        self._stop = threading.Event()
        self.peak = read()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._read())

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._read())


# -- a JWKS of our own ----------------------------------------------------------------------------


class TestKeys:
    """RSA keys served as a JWKS document on a real loopback socket, and tokens signed with them.

    ``publish(kid)`` adds a key to the document (as auth does when it rotates)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        self.private: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        keys = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keys.fetches += 1
                body = json.dumps(keys.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}/.well-known/jwks.json"

    def add(self, kid: str, publish: bool = True) -> None:
        self.private[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.publish(kid)

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def document(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private[kid].public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str, alg: str = "RS256", key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "sub": "u-" + uuid.uuid4().hex[:12],
            "email": "someone@mp4mp3.localhost",
            "iat": now,
            "exp": now + 600,
            "iss": ISSUER,
            "aud": AUDIENCE,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(
            body, key if key is not None else self.private[kid], algorithm=alg, headers={"kid": kid}
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hs256_with_public_key(keys: TestKeys, kid: str, **claims: Any) -> str:
    """The algorithm-confusion attack: HS256 "signed" with the RSA public key's PEM as secret."""
    pem = (
        keys.private[kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    payload = {
        "sub": "attacker",
        "email": "x@y.z",
        "iat": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    payload.update(claims)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


# -- bodies ---------------------------------------------------------------------------------------


def mp4_like(
    size: int, block: int = MiB, seed: bytes | None = None
) -> tuple[Iterator[bytes], Callable[[], str]]:
    """A stream of ``size`` bytes that starts like an MP4 (an ftyp box), and its sha256 once consumed."""
    digest = hashlib.sha256()
    base = seed or os.urandom(block)

    def gen() -> Iterator[bytes]:
        sent = 0
        first = True
        i = 0
        while sent < size:
            chunk = base[i % len(base) :] + base[: i % len(base)]
            if first:
                chunk = FTYP + chunk[len(FTYP) :]
                first = False
            chunk = chunk[: size - sent]
            digest.update(chunk)
            sent += len(chunk)
            i += 7919
            yield chunk

    return gen(), digest.hexdigest


def write_mp4_like(path: Path, size: int) -> str:
    """Write an MP4-looking file of ``size`` bytes; returns its sha256."""
    chunks, sha = mp4_like(size)
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return sha()


def multipart(
    file_chunks: Iterator[bytes] | bytes,
    filename: str = "video.mp4",
    fields: dict[str, str] | None = None,
    content_type: str = "video/mp4",
    file_field: str = "file",
) -> tuple[dict[str, str], Iterator[bytes]]:
    """(headers, body) of a multipart/form-data request whose file part is streamed from
    ``file_chunks`` (sent without Content-Length, i.e. chunked)."""
    boundary = "gw" + uuid.uuid4().hex
    chunks = iter([file_chunks]) if isinstance(file_chunks, bytes) else file_chunks

    def body() -> Iterator[bytes]:
        for name, value in (fields or {}).items():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        yield from chunks
        yield f"\r\n--{boundary}--\r\n".encode()

    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body()


def gateway_settings(**overrides: Any) -> Settings:
    """The gateway's settings for tests that build its app in-process: placeholders for the
    required fields (nothing is reached), then ``overrides``."""
    required: dict[str, Any] = {
        "mongo_uri": "mongodb://h/db",
        "amqp_url": "amqp://h",
        "auth_url": "http://auth",
        "jwks_url": "http://auth/jwks",
        "jwt_issuer": "i",
        "jwt_audience": "a",
        "namespace": "n",
        "public_url": "http://gw",
    }
    return Settings(**{**required, **overrides})
