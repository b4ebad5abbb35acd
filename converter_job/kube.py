"""The converter's one use of the Kubernetes API: merge-patching its own ConversionJob's status.

In-cluster only (the pod's ServiceAccount token, CA and KUBERNETES_SERVICE_* env); the token is
re-read for every request because Kubernetes rotates bound tokens. The ServiceAccount may patch
``conversionjobs/status`` of this one ConversionJob and nothing else.

The standard library's http.client, not httpx: one PATCH a second needs no more, and httpx with
its dependencies cost the converter's start ~0.1 CPU-s and ~10 MB (bench, conversion section).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.kube import MERGE_PATCH, in_cluster_url, tls_context
from common.logs import kv
from common.resources import GROUP, PLURAL, VERSION

log = logging.getLogger("converter.kube")

# what a kept-alive connection the server has since closed raises on its next request
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)


class PatchFailed(Exception):
    """The API server answered the patch with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status} {body[:200]}")
        self.status = status


class StatusPatcher:
    def __init__(self, api_url: str, sa_dir: Path, namespace: str, name: str, timeout: float) -> None:
        self.sa_dir = sa_dir
        self.name = name
        self.path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
        url = urlsplit(api_url)
        self.http = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=timeout, context=tls_context(str(sa_dir / "ca.crt"))
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
        body = json.dumps({"status": status}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": MERGE_PATCH}
        reused = self.http.sock is not None
        try:
            code, text = self._send(body, headers)
        except _STALE:
            if not reused:
                raise
            code, text = self._send(body, headers)  # the server closed the idle connection: once more
        if code >= 400:
            raise PatchFailed(code, text)

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        try:
            self.http.request("PATCH", self.path, body=body, headers=headers)
            resp = self.http.getresponse()
            return resp.status, resp.read().decode(errors="replace")  # read whole: the connection is reused
        except BaseException:
            self.http.close()  # a half-done exchange leaves the connection unusable
            raise

    def report(self, percent: int) -> None:
        """Progress is best effort: an API hiccup must not fail the conversion."""
        try:
            self.patch_status({"progress": percent})
        except (OSError, http.client.HTTPException, PatchFailed) as exc:
            log.warning(kv(job=self.name, event="progress.not_reported", percent=percent, error=exc))

    def report_result(self, report: dict[str, Any]) -> None:
        """The converter's report, once its output is stored: the operator settles the job from it.
        Best effort too: the pod's termination message says the same a moment later."""
        try:
            self.patch_status({"converterReport": report})
        except (OSError, http.client.HTTPException, PatchFailed) as exc:
            log.warning(kv(job=self.name, event="report.not_patched", error=exc))

    def close(self) -> None:
        self.http.close()
