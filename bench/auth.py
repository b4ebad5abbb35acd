"""Login and validate throughput of the devstack's auth process: `python -m bench.auth`.

Talks HTTP to the real uvicorn process (started if needed), prints requests/s, p50 and p99 per
operation, and writes the numbers to bench/results/auth-<date>.json so later work can compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from devstack.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "bench-password-correct-horse"


@dataclass(frozen=True)
class Result:
    operation: str
    requests: int
    concurrency: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float


def main() -> None:
    args = _parse_args()
    url = args.url or _devstack_auth_url()
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/signup", json={"email": email, "password": PASSWORD}).raise_for_status()
        token = http.post("/login", json={"email": email, "password": PASSWORD}).json()["access_token"]

    def login(client: httpx.Client) -> bool:
        resp = client.post("/login", json={"email": email, "password": PASSWORD})
        return resp.status_code == 200

    def validate(client: httpx.Client) -> bool:
        resp = client.post("/validate", headers={"Authorization": f"Bearer {token}"})
        return resp.status_code == 200

    load_before = os.getloadavg()
    results = [
        run("login", login, url, args.logins, args.concurrency),
        run("validate", validate, url, args.validates, args.concurrency),
    ]
    load = {"before": load_before, "after": os.getloadavg()}
    _print(results, url)
    Console().print(f"load average (1, 5, 15 min) before {_load(load_before)}, after {_load(load['after'])}")
    path = _write(results, url, args, load)
    Console().print(f"written to {path}")


def run(name: str, call: Callable[[httpx.Client], bool], url: str, total: int, concurrency: int) -> Result:
    """``total`` calls spread over ``concurrency`` threads, each with its own keep-alive client."""
    with httpx.Client(base_url=url, timeout=60) as warm:
        for _ in range(min(5, total)):
            call(warm)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                start = time.perf_counter()
                ok = call(client)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(
        operation=name,
        requests=total,
        concurrency=concurrency,
        errors=errors,
        seconds=round(wall, 3),
        requests_per_second=round(total / wall, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 2),
        p99_ms=round(cuts[98] * 1000, 2),
    )


def _devstack_auth_url() -> str:
    stack = Stack()
    stack.up(["mariadb", "auth"])  # idempotent: reuses what runs
    return stack["auth"].env()["AUTH_URL"]


def _print(results: list[Result], url: str) -> None:
    table = Table(title=f"auth on {url} ({os.cpu_count()} CPUs)")
    for column in ("operation", "requests", "concurrency", "errors", "req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for r in results:
        table.add_row(
            r.operation,
            str(r.requests),
            str(r.concurrency),
            str(r.errors),
            f"{r.requests_per_second:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
        )
    Console().print(table)


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def _write(
    results: list[Result], url: str, args: argparse.Namespace, load: dict[str, tuple[float, float, float]]
) -> Path:
    now = datetime.now(UTC)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"auth-{now:%Y-%m-%d}.json"
    record = {
        "benchmark": "auth",
        "measured_at": now.isoformat(timespec="seconds"),
        "url": url,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load_average": load,  # the machine is shared: compare runs made under similar load
        "notes": "login = one argon2id verification (AUTH_ARGON2_* settings) + 2 MySQL round trips + RS256 "
        "signing; validate = RS256 verification only. Client and server share the machine.",
        "parameters": {"logins": args.logins, "validates": args.validates, "concurrency": args.concurrency},
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.auth", description=__doc__)
    parser.add_argument("--url", help="auth base URL (default: the devstack's, started if needed)")
    parser.add_argument("--logins", type=int, default=200, help="login requests (default 200)")
    parser.add_argument("--validates", type=int, default=3000, help="validate requests (default 3000)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
