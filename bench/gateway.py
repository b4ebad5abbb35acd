"""Upload and download throughput through the gateway vs raw pymongo GridFS: `python -m bench.gateway`.

On the devstack's MongoDB (FerretDB), for each size (10 MB and 300 MB by default), in interleaved
rounds on the same bytes:

- upload: `GridFSBucket.upload_from_stream` of the file (raw) vs `POST /jobs` of the same file
  through a real uvicorn gateway process (multipart, streamed; timed until its 202, which also
  covers creating the ConversionJob and publishing the event);
- download: `GridFSBucket.open_download_stream(...).read()` in 1 MiB pieces (raw) vs
  `GET /jobs/{id}/mp3` of a file of the same size (streamed over HTTP, read and dropped).

The gateway runs in a world of its own (namespace with its RBAC, database, RabbitMQ vhost) so no
operator converts the bench's bytes; the bench plays the operator (removes files, finalizers) and
the converter (stores the "MP3", marks the job Succeeded). Prints a table; writes
bench/results/gateway-<date>.json. Target (DESIGN.md): gateway throughput >= 0.8x raw GridFS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import gridfs
import httpx
import psutil
import pymongo
import yaml
from bson import ObjectId
from pymongo.database import Database
from rich.console import Console
from rich.table import Table as RichTable

from bench.report import Chart, Section, Table, Target, load_average, now
from bench.stats import median, paired_ratio, rounded
from common.resources import CHUNK_SIZE, GROUP, MP3S_BUCKET, PLURAL, VERSION, VIDEOS_BUCKET, mp3_id
from devstack.config import LOOPBACK, ROOT
from devstack.kube import ApiError, Kube
from devstack.pki import PKI, kubeconfig
from devstack.servers.kubernetes import KubeAPIServer
from devstack.servers.rabbitmq import management as _rabbit
from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER, cluster_setup
from devstack.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1_000_000
MiB = 1024 * 1024
TARGET_RATIO = 0.8
SERVICE_ACCOUNT = "mp4mp3-gateway"
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
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # so the gateway takes it for an MP4


@dataclass(frozen=True)
class Run:
    operation: str  # upload | download
    contender: str  # raw | gateway
    size_mb: float
    round: int
    seconds: float
    mb_per_s: float
    gateway_rss_growth_mb: float | None = None  # peak RSS during the run minus before it


@dataclass
class Result:
    """Everything measured: the runs, and per (operation, size) the medians and the paired ratio."""

    parameters: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    load_average: dict[str, list[float]] = field(default_factory=dict)
    gateway_rss_mb: dict[str, float] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        rows = []
        for operation in ("upload", "download"):
            for size in self.parameters["sizes_mb"]:
                raw = self._runs(operation, "raw", size)
                gw = self._runs(operation, "gateway", size)
                if not raw or not gw:
                    continue
                rows.append(
                    {
                        "operation": operation,
                        "size_mb": size,
                        "raw_mb_per_s": rounded(median([r.mb_per_s for r in raw]), 1),
                        "gateway_mb_per_s": rounded(median([r.mb_per_s for r in gw]), 1),
                        # throughput ratio per round (raw seconds / gateway seconds), then the median
                        "ratio": rounded(paired_ratio([r.seconds for r in raw], [r.seconds for r in gw]), 3),
                        "gateway_peak_rss_growth_mb": rounded(
                            max(r.gateway_rss_growth_mb or 0.0 for r in gw), 1
                        ),
                        "rounds": len(gw),
                    }
                )
        return rows

    def _runs(self, operation: str, contender: str, size: float) -> list[Run]:
        runs = [r for r in self.runs if (r.operation, r.contender, r.size_mb) == (operation, contender, size)]
        return sorted(runs, key=lambda r: r.round)

    def as_json(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "load_average": self.load_average,
            "gateway_rss_mb": self.gateway_rss_mb,
            "summary": self.summary(),
            "runs": [asdict(r) for r in self.runs],
        }


# -- the world the bench's gateway lives in ----------------------------------------------------------


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


# -- the contenders --------------------------------------------------------------------------------


def make_input(folder: Path, size: int) -> Path:
    """``size`` bytes of incompressible data starting with an ftyp box."""
    path = folder / f"input-{size}.mp4"
    block = os.urandom(MiB)
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = (FTYP + block[len(FTYP) :]) if written == 0 else block
            piece = piece[: size - written]
            out.write(piece)
            written += len(piece)
    return path


def raw_upload(db: Database, source: Path) -> float:
    bucket = gridfs.GridFSBucket(db, bucket_name=VIDEOS_BUCKET, chunk_size_bytes=CHUNK_SIZE)
    started = time.perf_counter()
    with source.open("rb") as fh:
        file_id = bucket.upload_from_stream(source.name, fh)
    seconds = time.perf_counter() - started
    bucket.delete(file_id)
    return seconds


def gateway_upload(world: World, url: str, token: str, source: Path) -> float:
    started = time.perf_counter()
    with source.open("rb") as fh:
        resp = httpx.post(
            f"{url}/jobs",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (source.name, fh, "video/mp4")},
            timeout=1800,
        )
    seconds = time.perf_counter() - started
    if resp.status_code != 202:
        raise RuntimeError(f"upload answered {resp.status_code}: {resp.text}")
    job_id = resp.json()["id"]
    _remove_job(world, job_id)
    return seconds


def _remove_job(world: World, job_id: str) -> None:
    """What the operator's finalizer would do: the files, then the resource."""
    bucket = gridfs.GridFSBucket(world.db, bucket_name=VIDEOS_BUCKET)
    with suppress(gridfs.errors.NoFile):
        bucket.delete(ObjectId(job_id.removeprefix("cj-")))
    world.db["jobs"].delete_one({"_id": job_id})
    path = f"{world.cj_path}/{job_id}"
    world.admin.patch(path, {"metadata": {"finalizers": None}})
    world.admin.delete(path)


def prepare_download(world: World, url: str, token: str, source: Path) -> str:
    """A job whose "MP3" is ``source``'s bytes, marked Succeeded as the converter would."""
    tiny = FTYP + b"\x00" * 64
    resp = httpx.post(
        f"{url}/jobs",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("d.mp4", tiny)},
        timeout=60,
    )
    resp.raise_for_status()
    job_id = str(resp.json()["id"])
    resource = world.admin.get(f"{world.cj_path}/{job_id}")
    owner = resource["spec"]["owner"]["userId"]
    file_id = mp3_id(resource["metadata"]["uid"])
    bucket = gridfs.GridFSBucket(world.db, bucket_name=MP3S_BUCKET, chunk_size_bytes=CHUNK_SIZE)
    with source.open("rb") as fh:
        bucket.upload_from_stream_with_id(
            file_id, "d.mp3", fh, metadata={"owner": owner, "job": job_id, "filename": "d.mp3"}
        )
    status = {"phase": "Succeeded", "progress": 100, "mp3Id": str(file_id), "mp3Size": source.stat().st_size}
    world.admin.patch(f"{world.cj_path}/{job_id}/status", {"status": status})
    return job_id


def raw_download(db: Database, job_id: str) -> tuple[float, str]:
    bucket = gridfs.GridFSBucket(db, bucket_name=MP3S_BUCKET)
    digest = hashlib.sha256()
    started = time.perf_counter()
    file_id = db[f"{MP3S_BUCKET}.files"].find_one({"metadata.job": job_id})["_id"]  # type: ignore[index]
    with bucket.open_download_stream(file_id) as stream:
        while block := stream.read(MiB):
            digest.update(block)
    return time.perf_counter() - started, digest.hexdigest()


def gateway_download(url: str, token: str, job_id: str) -> tuple[float, str]:
    digest = hashlib.sha256()
    started = time.perf_counter()
    with httpx.stream(
        "GET", f"{url}/jobs/{job_id}/mp3", headers={"Authorization": f"Bearer {token}"}, timeout=1800
    ) as resp:
        if resp.status_code != 200:
            resp.read()
            raise RuntimeError(f"download answered {resp.status_code}: {resp.text}")
        for block in resp.iter_bytes(MiB):
            digest.update(block)
    return time.perf_counter() - started, digest.hexdigest()


# -- the run ---------------------------------------------------------------------------------------


def measure(sizes_mb: list[float], rounds: int, console: Console | None = None) -> Result:
    """Run the interleaved rounds; nothing is written (``main`` and ``section`` do that)."""
    console = console or Console()
    stack = Stack()
    stack.up(NEEDED)  # idempotent: reuses what runs
    result = Result(parameters={"sizes_mb": sizes_mb, "rounds": rounds, "chunk_size": CHUNK_SIZE})
    result.load_average["before"] = load_average()
    folder = Path(tempfile.mkdtemp(prefix="gwbench-"))
    try:
        with world(stack, folder) as w, gateway_process(w.env, folder / "gateway.log") as (url, proc):
            account = Account(w.auth_url)
            token = account.token()
            httpx.post(
                f"{url}/jobs", headers={"Authorization": f"Bearer {token}"}, files={"file": ("w.mp4", FTYP)}
            )
            result.gateway_rss_mb["idle"] = round(proc.memory_info().rss / MiB, 1)
            for size_mb in sizes_mb:
                source = make_input(folder, int(size_mb * MB))
                download_job = prepare_download(w, url, token, source)
                for n in range(rounds):
                    token = account.token()  # a 300 MB round takes minutes; tokens live 15
                    _round(result, w, url, token, proc, source, download_job, size_mb, n, console)
                source.unlink()
            result.gateway_rss_mb["end"] = round(proc.memory_info().rss / MiB, 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.load_average["after"] = load_average()
    return result


def _round(
    result: Result,
    w: World,
    url: str,
    token: str,
    proc: psutil.Process,
    source: Path,
    download_job: str,
    size_mb: float,
    n: int,
    console: Console,
) -> None:
    """One round: both contenders of each operation back to back, which goes first alternating."""
    uploads: list[tuple[str, Callable[[], float]]] = [
        ("raw", lambda: raw_upload(w.db, source)),
        ("gateway", lambda: gateway_upload(w, url, token, source)),
    ]
    downloads: list[tuple[str, Callable[[], tuple[float, str]]]] = [
        ("raw", lambda: raw_download(w.db, download_job)),
        ("gateway", lambda: gateway_download(url, token, download_job)),
    ]
    if n % 2:
        uploads.reverse()
        downloads.reverse()
    for contender, upload in uploads:
        with PeakRss(proc) as rss:
            seconds = upload()
        _record(result, "upload", contender, size_mb, n, seconds, rss, console)
    digests = set()
    for contender, download in downloads:
        with PeakRss(proc) as rss:
            seconds, digest = download()
        digests.add(digest)
        _record(result, "download", contender, size_mb, n, seconds, rss, console)
    if len(digests) != 1:
        raise RuntimeError("the gateway served other bytes than GridFS holds")


def _record(
    result: Result,
    op: str,
    contender: str,
    size_mb: float,
    n: int,
    seconds: float,
    rss: PeakRss,
    console: Console,
) -> None:
    growth = round(rss.growth_mb, 1) if contender == "gateway" else None
    run = Run(op, contender, size_mb, n, round(seconds, 3), round(size_mb / seconds, 1), growth)
    result.runs.append(run)
    extra = f", gateway RSS +{growth} MiB" if growth is not None else ""
    console.print(f"  {op:<8} {contender:<7} {size_mb:g} MB round {n + 1}: {run.mb_per_s} MB/s{extra}")


class Account:
    """A user of the real auth service; ``token()`` logs in again (tokens live 15 minutes)."""

    def __init__(self, auth_url: str) -> None:
        self.auth_url = auth_url
        self.email = f"gwbench-{secrets.token_hex(5)}@mp4mp3.localhost"
        self.password = secrets.token_urlsafe(16)
        with httpx.Client(base_url=auth_url, timeout=30) as http:
            http.post("/signup", json={"email": self.email, "password": self.password}).raise_for_status()

    def token(self) -> str:
        with httpx.Client(base_url=self.auth_url, timeout=30) as http:
            login = http.post("/login", json={"email": self.email, "password": self.password})
            login.raise_for_status()
            return str(login.json()["access_token"])


# -- reporting -------------------------------------------------------------------------------------


COLUMNS = ["operation", "size MB", "raw MB/s", "gateway MB/s", "ratio", "gateway RSS +MiB", "rounds"]


def _rows(result: Result) -> list[list[Any]]:
    return [
        [
            s["operation"],
            s["size_mb"],
            s["raw_mb_per_s"],
            s["gateway_mb_per_s"],
            s["ratio"],
            s["gateway_peak_rss_growth_mb"],
            s["rounds"],
        ]
        for s in result.summary()
    ]


def print_table(result: Result, console: Console) -> None:
    table = RichTable(title="gateway vs raw pymongo GridFS (medians; ratio = paired, >= 0.8 wanted)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in _rows(result):
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
    console.print(
        f"gateway RSS: {result.gateway_rss_mb}; load average before {result.load_average['before']}, "
        f"after {result.load_average['after']}"
    )


def section(smoke: bool = False, console: Console | None = None) -> Section:
    """The report section for `python -m bench` (bench/report.py's shape)."""
    sizes, rounds = ([1.0, 4.0], 1) if smoke else ([10.0, 300.0], 3)
    result = measure(sizes, rounds, console)
    summary = result.summary()
    targets = [
        Target(
            f"gateway {s['operation']} {s['size_mb']:g} MB vs raw GridFS",
            s["ratio"],
            ">=",
            TARGET_RATIO,
            "x",
            "paired median of raw seconds / gateway seconds",
        )
        for s in summary
    ]
    charts = [
        Chart(
            f"{op} throughput",
            "MB/s",
            [f"{s['size_mb']:g} MB" for s in summary if s["operation"] == op],
            {
                "raw GridFS": [s["raw_mb_per_s"] for s in summary if s["operation"] == op],
                "gateway": [s["gateway_mb_per_s"] for s in summary if s["operation"] == op],
            },
        )
        for op in ("upload", "download")
    ]
    return Section(
        name="gateway",
        parameters=result.parameters,
        results=result.as_json(),
        targets=targets,
        tables=[Table("gateway vs raw pymongo GridFS (bench/gateway.py)", COLUMNS, _rows(result))],
        charts=charts,
        notes=[
            "Client, gateway and FerretDB share the machine's cores; the raw contender has no HTTP "
            "hop. Upload through the gateway is timed to its 202, so it includes creating the "
            "ConversionJob and publishing conversion.requested.",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default="10,300", help="file sizes in MB, comma-separated (default 10,300)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for gateway-<date>.json")
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    started = now()
    result = measure(sizes, args.rounds, console)
    print_table(result, console)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gateway-{datetime.now(UTC).strftime('%Y-%m-%d')}.json"
    record = {
        "benchmark": "gateway",
        "measured_at": started,
        "target_ratio": TARGET_RATIO,
        **result.as_json(),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
