"""One user's ConversionJobs as they change: a Kubernetes watch label-filtered by owner.

The API server filters by the owner label, so another user's jobs never reach this process for
this stream. Watches are long-lived requests; they get their own HTTP client without a connection
limit, so hundreds of open streams never starve the short calls of :mod:`gateway.k8s`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from kubernetes.client import Configuration

from common.kube import retry_later
from common.resources import GROUP, OWNER_LABEL, PLURAL, VERSION
from gateway.k8s import KubeUnavailable, http_client

# the API server ends a watch after this long (a little random in its own code); we start another
# from the last resourceVersion seen
WATCH_SECONDS = 290


class Expired(Exception):
    """The resourceVersion to resume from is older than the API server's history (410 Gone)."""


@dataclass(frozen=True)
class Change:
    """One watch event: ADDED, MODIFIED, DELETED or BOOKMARK, and the object as it now is."""

    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str(self.object.get("metadata", {}).get("resourceVersion", ""))


def watch_client(config: Configuration, connect_timeout: float) -> httpx.AsyncClient:
    """An HTTP client for watches: no pool limit, reads may wait a whole watch period."""
    return http_client(
        config,
        connect_timeout,
        read_timeout=WATCH_SECONDS + 30.0,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
    )


class OwnerWatch:
    """List and watch the ConversionJobs of one owner in one namespace."""

    def __init__(self, http: httpx.AsyncClient, namespace: str, owner: str) -> None:
        self._http = http
        self._path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        self._selector = f"{OWNER_LABEL}={owner}"

    async def snapshot(self) -> tuple[list[dict[str, Any]], str]:
        """Every job of the owner now, and the resourceVersion to watch from."""
        items: list[dict[str, Any]] = []
        params = {"labelSelector": self._selector, "limit": "500"}
        version = ""
        while True:
            page = await self._get(params)
            items.extend(page.get("items", []))
            version = version or str(page.get("metadata", {}).get("resourceVersion", ""))
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items, version
            params["continue"] = token

    async def changes(self, since: str) -> AsyncIterator[Change]:
        """The changes after resourceVersion ``since``, until the API server ends the watch.
        Raises Expired when ``since`` is too old, KubeUnavailable when the server cannot be asked."""
        params = {
            "labelSelector": self._selector,
            "watch": "true",
            "resourceVersion": since,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        try:
            async with self._http.stream("GET", self._path, params=params) as resp:
                if resp.status_code == 410:
                    raise Expired(since)
                if retry_later(resp.status_code) or resp.status_code >= 400:
                    await resp.aread()
                    raise KubeUnavailable(f"the watch was answered {resp.status_code}: {resp.text[:200]}")
                async for line in resp.aiter_lines():
                    if line.strip():
                        yield _change(json.loads(line))
        except httpx.TransportError as exc:
            raise KubeUnavailable(f"the watch broke: {exc!r}") from exc

    async def _get(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            resp = await self._http.get(self._path, params=params)
        except httpx.TransportError as exc:
            raise KubeUnavailable(f"the API server is unreachable: {exc!r}") from exc
        if resp.status_code >= 400:
            raise KubeUnavailable(f"the API server answered {resp.status_code}: {resp.text[:200]}")
        result: dict[str, Any] = resp.json()
        return result


def _change(event: dict[str, Any]) -> Change:
    kind, obj = str(event.get("type", "")), event.get("object") or {}
    if kind == "ERROR":  # a Status object; 410 is "too old resource version"
        if obj.get("code") == 410:
            raise Expired(str(obj.get("message", "")))
        raise KubeUnavailable(f"the watch reported an error: {obj.get('message', obj)}")
    return Change(kind, obj)
