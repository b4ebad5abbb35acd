"""Sections for the benchmarks written as scripts of their own (bench/auth.py, bench/gateway/).

Each is called through its public functions, shaped into a report section, and writes nothing of
its own (its own CLI keeps writing its own file).
"""

from __future__ import annotations

import importlib.util
import secrets
from dataclasses import asdict

import httpx
from rich.console import Console

from bench import auth
from bench.report import Chart, Section, Table
from devstack.stack import Stack


def auth_section(smoke: bool = False, console: Console | None = None) -> Section:
    """bench.auth's login and validate throughput, with its default request counts (tiny in smoke)."""
    console = console or Console()
    stack = Stack()
    stack.up(["mariadb", "auth"])  # idempotent: reuses what runs
    url = stack["auth"].env()["AUTH_URL"]
    logins, validates, concurrency = (5, 50, 2) if smoke else (200, 3000, 4)
    email = f"bench-{secrets.token_hex(5)}@mp4mp3.localhost"
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/signup", json={"email": email, "password": auth.PASSWORD}).raise_for_status()
        token = http.post("/login", json={"email": email, "password": auth.PASSWORD}).json()["access_token"]

    def login(client: httpx.Client) -> bool:
        return client.post("/login", json={"email": email, "password": auth.PASSWORD}).status_code == 200

    def validate(client: httpx.Client) -> bool:
        return client.post("/validate", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    results = [
        auth.run("login", login, url, logins, concurrency),
        auth.run("validate", validate, url, validates, concurrency),
    ]
    for r in results:
        console.print(
            f"  auth {r.operation}: {r.requests_per_second} req/s, p50 {r.p50_ms} ms, p99 {r.p99_ms} ms"
        )
    columns = ["operation", "requests", "concurrency", "errors", "req/s", "p50 ms", "p99 ms"]
    rows: list[list[str | int | float | None]] = [
        [r.operation, r.requests, r.concurrency, r.errors, r.requests_per_second, r.p50_ms, r.p99_ms]
        for r in results
    ]
    return Section(
        name="auth",
        parameters={"url": url, "logins": logins, "validates": validates, "concurrency": concurrency},
        results={"operations": [asdict(r) for r in results]},
        tables=[Table("auth throughput (bench/auth.py)", columns, rows)],
        charts=[
            Chart(
                "throughput (bench/auth.py)",
                "requests/s",
                [r.operation for r in results],
                {"req/s": [r.requests_per_second for r in results]},
            ),
        ],
        notes=[
            "login = one argon2id verification + 2 MySQL round trips + RS256 signing; validate = RS256 "
            "verification only. Client and server share the machine. No target in the design.",
        ],
    )


def gateway_available() -> bool:
    return importlib.util.find_spec("bench.gateway") is not None


def gateway_section(smoke: bool = False, console: Console | None = None) -> Section:
    """bench.gateway's own section: gateway vs raw GridFS upload and download (tiny in smoke)."""
    from bench import gateway  # imported here: the section is skipped while the module is missing

    return gateway.section(smoke, console)
