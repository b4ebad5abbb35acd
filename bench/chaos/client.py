"""The soak's users of the public API: every answer any of them gets is recorded (invariant 5), and
they retry as a well-behaved client does (a 503's or 429's Retry-After, a connection refused while
a gateway restarts), so an outage delays an upload but never loses one."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

RETRIED = (429, 502, 503, 504)  # answers a client tries again after (5xx ones still count in inv. 5)
TRANSPORT_ERRORS = (httpx.TransportError,)
DEFAULT_WAIT = 2.0  # seconds before trying again when an answer gives no Retry-After


@dataclasses.dataclass(frozen=True)
class Answer:
    """One HTTP exchange as the client saw it: an answer, or a transport error (status 0)."""

    at: float  # time.time()
    method: str
    route: str  # the path with ids replaced: /jobs/{id}
    status: int
    retry_after: str | None
    error: str = ""


class Ledger:
    """Every answer the soak's clients got, in order (thread-safe)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def note(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)


class Api:
    """The gateway and auth as one recording client; ``send`` retries what an outage refuses."""

    def __init__(self, gateway: str, auth: str, ledger: Ledger, patience: float = 240.0) -> None:
        self.gateway, self.auth, self.ledger, self.patience = gateway, auth, ledger, patience
        self.http = httpx.Client(timeout=httpx.Timeout(120, connect=5))

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        method: str,
        url: str,
        route: str,
        retry: bool = True,
        body: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """The answer (retried through outages until ``patience`` runs out when ``retry``), or None
        if none came. ``body`` makes fresh request arguments per try (an upload's open file)."""
        deadline = time.monotonic() + self.patience
        while True:
            response, wait = self._once(method, url, route, body, kwargs)
            if response is not None and (not retry or response.status_code not in RETRIED):
                return response
            if not retry or time.monotonic() + wait > deadline:
                return response
            time.sleep(wait)

    def _once(
        self,
        method: str,
        url: str,
        route: str,
        body: Callable[[], dict[str, Any]] | None,
        kwargs: dict[str, Any],
    ) -> tuple[httpx.Response | None, float]:
        try:
            response = self.http.request(method, url, **(body() if body else {}), **kwargs)
        except TRANSPORT_ERRORS as exc:
            self.ledger.note(Answer(time.time(), method, route, 0, None, f"{type(exc).__name__}: {exc}"))
            return None, DEFAULT_WAIT
        retry_after = response.headers.get("retry-after")
        self.ledger.note(Answer(time.time(), method, route, response.status_code, retry_after))
        return response, _seconds(retry_after)


class User:
    """A signed-up user of the soak, with a token renewed when the gateway says it expired."""

    def __init__(self, api: Api, label: str) -> None:
        self.api = api
        self.email = f"chaos-{label}-{secrets.token_hex(4)}@mp4mp3.localhost"
        self.password = secrets.token_urlsafe(12)
        resp = api.send("POST", f"{api.auth}/signup", "/signup", json=self._credentials())
        if resp is None or resp.status_code != 201:
            raise RuntimeError(f"signup of {self.email} failed: {_said(resp)}")
        self.id = str(resp.json()["id"])
        self.token = ""
        self.login()

    def _credentials(self) -> dict[str, str]:
        return {"email": self.email, "password": self.password}

    def login(self) -> None:
        resp = self.api.send("POST", f"{self.api.auth}/login", "/login", json=self._credentials())
        if resp is None or resp.status_code != 200:
            raise RuntimeError(f"login of {self.email} failed: {_said(resp)}")
        self.token = resp.json()["access_token"]

    def call(
        self, method: str, path: str, route: str, retry: bool = True, **kwargs: Any
    ) -> httpx.Response | None:
        """``method`` on the gateway as this user; a 401 (expired token) logs in again once."""
        for _ in range(2):
            headers = {"Authorization": f"Bearer {self.token}"}
            resp = self.api.send(method, f"{self.api.gateway}{path}", route, retry, headers=headers, **kwargs)
            if resp is None or resp.status_code != 401:
                return resp
            self.login()
        return resp

    def upload(self, video: Path, options: dict[str, str]) -> httpx.Response | None:
        """POST /jobs?fresh=true (each upload converts, even of bytes this user sent before)."""

        def body() -> dict[str, Any]:
            return {"files": {"file": (video.name, video.read_bytes(), "video/mp4")}, "data": options}

        return self.call("POST", "/jobs?fresh=true", "/jobs", body=body)

    def job(self, job_id: str) -> httpx.Response | None:
        return self.call("GET", f"/jobs/{job_id}", "/jobs/{id}")

    def delete(self, job_id: str) -> httpx.Response | None:
        return self.call("DELETE", f"/jobs/{job_id}", "/jobs/{id}")

    def listed(self) -> list[str]:
        """The ids of every job the gateway lists for this user (also ones whose 202 never came)."""
        ids: list[str] = []
        offset = 0
        while True:
            resp = self.call("GET", f"/jobs?limit=100&offset={offset}", "/jobs")
            if resp is None or resp.status_code != 200:
                raise RuntimeError(f"listing the jobs of {self.email} failed: {_said(resp)}")
            page = resp.json()
            ids += [item["id"] for item in page["items"]]
            if not page.get("next"):
                return ids
            offset += len(page["items"])


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.5, min(30.0, float(retry_after))) if retry_after else DEFAULT_WAIT
    except ValueError:
        return DEFAULT_WAIT


def _said(resp: httpx.Response | None) -> str:
    return "no answer" if resp is None else f"{resp.status_code} {resp.text[:300]}"
