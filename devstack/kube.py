"""A small synchronous Kubernetes REST client (dicts in, dicts out) for the devstack's own tools.

It reads the kubeconfigs the devstack writes (client certificate or token, one cluster), so the
tools and the test fixtures need no model classes and no version skew with the server.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str) -> None:
        self.status = status
        self.body = body
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")


class Kube:
    def __init__(
        self,
        server: str,
        ca: str,
        cert: tuple[str, str] | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        tls = ssl.create_default_context(cafile=ca)
        if cert:
            tls.load_cert_chain(*cert)
        self.http = httpx.Client(base_url=server, verify=tls, headers=headers, timeout=timeout)

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> Kube:
        config = yaml.safe_load(Path(path).read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        cert = (user["client-certificate"], user["client-key"]) if "client-certificate" in user else None
        return cls(cluster["server"], cluster["certificate-authority"], cert, user.get("token"))

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = {"Content-Type": content_type or "application/json"}
        content = json.dumps(body) if body is not None else None
        resp = self.http.request(method, path, content=content, headers=headers, params=params)
        if resp.status_code >= 400:
            try:
                raise ApiError(resp.status_code, resp.json())
            except ValueError:
                raise ApiError(resp.status_code, resp.text) from None
        return resp.json() if resp.content else {}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def patch(self, path: str, body: dict[str, Any], content_type: str = MERGE_PATCH) -> dict[str, Any]:
        return self.request("PATCH", path, body, content_type)

    def delete(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("DELETE", path, body)

    def service_account_token(
        self, namespace: str, account: str, seconds: int, bound_pod: dict[str, Any] | None = None
    ) -> str:
        """A token of ServiceAccount ``account`` (TokenRequest), bound to ``bound_pod`` if given."""
        spec: dict[str, Any] = {"expirationSeconds": seconds}
        if bound_pod is not None:
            meta = bound_pod["metadata"]
            spec["boundObjectRef"] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            }
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
        return str(self.create(path, request)["status"]["token"])

    def watch(
        self, path: str, resource_version: str, timeout: int = 300, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield watch events ({type, object}) until the server ends the watch."""
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout),
            "allowWatchBookmarks": "true",
            **params,
        }
        with self.http.stream("GET", path, params=query, timeout=timeout + 30) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise ApiError(resp.status_code, resp.text)
            for line in resp.iter_lines():
                if line:
                    yield json.loads(line)
