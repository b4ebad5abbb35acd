"""Watching a run from outside: Kubernetes watches on ConversionJobs, converter Jobs and pods (when
each moment is first seen), and the SMTP server's mail folder (when each job's email arrived)."""

from __future__ import annotations

import email.parser
import email.policy
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from common.resources import GROUP, JOB_LABEL, PLURAL, VERSION
from devstack.kube import ApiError, Kube

NAMESPACE = "mp4mp3"  # where the devstack's gateway creates ConversionJobs

JOB_ID = re.compile(r"cj-[0-9a-f]{24}")


class Observer:
    """Watches ConversionJobs, converter Jobs and pods in the namespace; notes when each moment of
    each ConversionJob is first seen (wall clock), and the API's own timestamps."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.seen: dict[str, dict[str, float]] = {}
        self.api: dict[str, dict[str, Any]] = {}
        self._phases: dict[str, str] = {}
        self._lock = threading.Lock()
        self._listed = threading.Semaphore(0)
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(path, selector, handle), daemon=True)
            for path, selector, handle in (
                (f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}", None, self._on_cr),
                (f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", JOB_LABEL, self._on_job),
                (f"/api/v1/namespaces/{NAMESPACE}/pods", JOB_LABEL, self._on_pod),
            )
        ]

    def start(self) -> None:
        """Returns once every watch has listed what exists: nothing after that goes unseen."""
        for thread in self._threads:
            thread.start()
        for _ in self._threads:
            if not self._listed.acquire(timeout=30):
                raise TimeoutError("the Kubernetes watches did not start within 30 s")

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def phase(self, name: str) -> str | None:
        return self._phases.get(name)

    def _watch(self, path: str, selector: str | None, handle: Callable[[dict[str, Any], bool], None]) -> None:
        params = {"labelSelector": selector} if selector else {}
        kube = Kube.from_kubeconfig(self.kubeconfig)  # one client per thread
        first = True
        try:
            while not self._stopping.is_set():
                try:
                    listing = kube.get(path, **params)
                    for item in listing["items"]:
                        handle(item, True)
                    if first:
                        self._listed.release()
                        first = False
                    version = listing["metadata"]["resourceVersion"]
                    # short server-side timeouts: the thread notices stop() within seconds
                    for event in kube.watch(path, version, timeout=5, **params):
                        if event["type"] in ("ADDED", "MODIFIED"):
                            handle(event["object"], False)
                            version = event["object"]["metadata"]["resourceVersion"]
                        elif event["type"] == "ERROR":
                            break  # e.g. 410 Gone: list again
                except (httpx.HTTPError, ApiError):
                    self._stopping.wait(0.5)
        finally:
            kube.close()

    def _note(self, name: str, moment: str, when: float) -> None:
        with self._lock:
            self.seen.setdefault(name, {}).setdefault(moment, when)

    def _on_cr(self, obj: dict[str, Any], listed: bool) -> None:
        now = time.time()
        meta, status = obj["metadata"], obj.get("status") or {}
        name = meta["name"]
        if not listed:
            self._note(name, "cr_created", now)
        phase = status.get("phase")
        if phase:
            self._phases[name] = phase
        if phase == "Succeeded" and not listed:
            self._note(name, "cr_succeeded", now)
        with self._lock:
            self.api.setdefault(name, {}).update(
                uid=meta["uid"],
                cr_created=meta.get("creationTimestamp"),
                started_at=status.get("startedAt"),
                finished_at=status.get("finishedAt"),
                attempts=status.get("attempts"),
                reason=status.get("reason"),
                message=status.get("message"),
            )

    def _on_job(self, obj: dict[str, Any], listed: bool) -> None:
        name = (obj["metadata"].get("labels") or {}).get(JOB_LABEL)
        if not name or listed:
            return
        now = time.time()
        self._note(name, "job_created", now)
        status = obj.get("status") or {}
        if any(
            c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or []
        ):
            self._note(name, "job_complete", now)
        with self._lock:
            self.api.setdefault(name, {}).update(
                job_created=obj["metadata"].get("creationTimestamp"),
                job_started=status.get("startTime"),
                job_completed=status.get("completionTime"),
            )

    def _on_pod(self, obj: dict[str, Any], listed: bool) -> None:
        name = (obj["metadata"].get("labels") or {}).get(JOB_LABEL)
        if not name or listed:
            return
        now = time.time()
        self._note(name, "pod_created", now)
        with self._lock:
            self.api.setdefault(name, {})["pod"] = obj["metadata"]["name"]  # the last attempt's
        if (obj.get("spec") or {}).get("nodeName"):
            self._note(name, "pod_bound", now)
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Running", "Succeeded", "Failed"):
            self._note(name, "pod_started", now)
        if phase in ("Succeeded", "Failed"):
            self._note(name, "pod_exited", now)
        for container in (obj.get("status") or {}).get("containerStatuses") or []:
            state = container.get("state") or {}
            term = state.get("terminated") or {}
            with self._lock:
                self.api.setdefault(name, {}).update(
                    {
                        k: v
                        for k, v in {
                            "container_started": (state.get("running") or term).get("startedAt"),
                            "container_finished": term.get("finishedAt"),
                        }.items()
                        if v
                    }
                )


class MailWatcher:
    """The SMTP server's mail folder: which job's email arrived when (the file's mtime)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sent: dict[str, float] = {}
        self._known = set(folder.glob("*.eml"))
        self._parser = email.parser.BytesHeaderParser(policy=email.policy.default)

    def scan(self) -> None:
        for path in sorted(set(self.folder.glob("*.eml")) - self._known):
            self._known.add(path)
            with path.open("rb") as fh:
                headers = self._parser.parse(fh)
            job = str(headers.get("X-Mp4mp3-Job") or "")
            if not job:
                found = JOB_ID.search(path.read_text(errors="replace"))
                job = found.group(0) if found else ""
            if job:
                self.sent.setdefault(job, path.stat().st_mtime)
