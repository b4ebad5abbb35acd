"""The converter's one use of the Kubernetes API: merge-patching its own ConversionJob's status.

In-cluster only (the pod's ServiceAccount token, CA and KUBERNETES_SERVICE_* env); the token is
re-read for every request because Kubernetes rotates bound tokens. The ServiceAccount may patch
``conversionjobs/status`` of this one ConversionJob and nothing else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

from common.kube import MERGE_PATCH, in_cluster_url, tls_context
from common.logs import kv
from common.resources import GROUP, PLURAL, VERSION

log = logging.getLogger("converter.kube")


class StatusPatcher:
    def __init__(self, api_url: str, sa_dir: Path, namespace: str, name: str, timeout: float) -> None:
        self.sa_dir = sa_dir
        self.name = name
        self.path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
        self.http = httpx.Client(
            base_url=api_url, verify=tls_context(str(sa_dir / "ca.crt")), timeout=timeout
        )

    @classmethod
    def in_cluster(cls, sa_dir: Path, namespace: str, name: str, timeout: float) -> StatusPatcher | None:
        """None outside a pod (no token or no API address), so the converter still runs standalone."""
        api_url = in_cluster_url()
        if api_url is None or not (sa_dir / "token").is_file():
            return None
        return cls(api_url, sa_dir, namespace, name, timeout)

    def patch_status(self, status: dict[str, Any]) -> None:
        token = (self.sa_dir / "token").read_text().strip()
        resp = self.http.patch(
            self.path,
            json={"status": status},
            headers={"Authorization": f"Bearer {token}", "Content-Type": MERGE_PATCH},
        )
        resp.raise_for_status()

    def report(self, percent: int) -> None:
        """Progress is best effort: an API hiccup must not fail the conversion."""
        try:
            self.patch_status({"progress": percent})
        except httpx.HTTPError as exc:
            log.warning(kv(job=self.name, event="progress.not_reported", percent=percent, error=exc))

    def close(self) -> None:
        self.http.close()
