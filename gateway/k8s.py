"""ConversionJobs through the Kubernetes API: create, get, list by owner, delete. Nothing else.

A small async client over httpx, configured by ``common.kube.load_configuration`` (a kubeconfig or
the pod's ServiceAccount); the calls themselves are plain REST with short timeouts, so an
unreachable API server is noticed in seconds and the upload can fall back to the event.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
from kubernetes.client import Configuration

from common.kube import retry_later, tls_context
from common.resources import GROUP, OWNER_LABEL, PLURAL, VERSION


class KubeUnavailable(Exception):
    """The API server could not be asked (down, timing out, overloaded): try again later."""


class KubeError(Exception):
    """The API server refused the request (4xx other than 404/409)."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.message = message
        self.reason = reason


class AlreadyExists(KubeError):
    pass


class _ConfigAuth(httpx.Auth):
    """The bearer token as the configuration has it now (re-read when it rotates)."""

    def __init__(self, config: Configuration) -> None:
        self._config = config

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._config.get_api_key_with_prefix("BearerToken")
        if token:
            request.headers["Authorization"] = token
        yield request


def http_client(
    config: Configuration,
    timeout: float,
    read_timeout: float | None = None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """A client of the API server; ``read_timeout`` and ``limits`` for long-lived watches."""
    tls = tls_context(config.ssl_ca_cert, config.verify_ssl, config.cert_file, config.key_file)
    return httpx.AsyncClient(
        base_url=config.host,
        verify=tls,
        auth=_ConfigAuth(config),
        timeout=httpx.Timeout(read_timeout or timeout, connect=min(timeout, 3.0)),
        limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),  # httpx default
        headers={"User-Agent": "mp4mp3-gateway", "Accept": "application/json"},
    )


class ConversionJobs:
    """The ConversionJobs of one namespace."""

    def __init__(self, http: httpx.AsyncClient, namespace: str) -> None:
        self._http = http
        self.namespace = namespace
        self._path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", self._path, json=body)

    async def get(self, name: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", f"{self._path}/{name}")
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def list_owned(self, owner: str) -> list[dict[str, Any]]:
        """Every ConversionJob labelled with this owner (the API server pages; we follow)."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"labelSelector": f"{OWNER_LABEL}={owner}", "limit": "500"}
        while True:
            page = await self._call("GET", self._path, params=params)
            items.extend(page.get("items", []))
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    async def annotate(self, name: str, key: str, value: str) -> dict[str, Any] | None:
        """Set one annotation (a merge patch of metadata only); None if there is no such resource."""
        body = {"metadata": {"annotations": {key: value}}}
        headers = {"Content-Type": "application/merge-patch+json"}
        try:
            return await self._call("PATCH", f"{self._path}/{name}", json=body, headers=headers)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def delete(self, name: str) -> dict[str, Any] | None:
        """Delete; returns the object as the API server last saw it (with its finalizers, which
        then run), or None if there was none."""
        try:
            return await self._call(
                "DELETE", f"{self._path}/{name}", json={"propagationPolicy": "Background"}
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def ping(self) -> None:
        """Can we reach the API server and list ConversionJobs here (auth, RBAC, CRD installed)?"""
        await self._call("GET", self._path, params={"limit": "1"})

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise KubeUnavailable(f"the API server is unreachable: {exc!r}") from exc
        if retry_later(resp.status_code):
            raise KubeUnavailable(f"the API server answered {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"message": resp.text[:500]}
            error = AlreadyExists if resp.status_code == 409 else KubeError
            raise error(resp.status_code, str(body.get("message", "")), str(body.get("reason", "")))
        result: dict[str, Any] = resp.json()
        return result
