"""What the operator reads from the converter's Job and pods: small frozen views (pure), built from
the raw objects by the Kopf indexes (handlers.py) and read by the status computation (status.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.resources import COMPLETION_INDEX_ANNOTATION, CONTROLLER_UID_LABEL

CONVERTER_CONTAINER = "converter"


@dataclass(frozen=True)
class PodView:
    """What the operator needs from one converter pod."""

    name: str
    job_uid: str | None
    created: str
    phase: str
    deleting: bool = False
    exit_code: int | None = None
    message: str | None = None  # the termination message
    started_at: str | None = None
    finished_at: str | None = None  # when its container ended (whole seconds)
    terminated_reason: str | None = None  # e.g. OOMKilled (troubles.py)
    waiting_reason: str | None = None  # e.g. ErrImageNeverPull (troubles.py)
    waiting_message: str | None = None
    index: int | None = None  # its part of the audio, in an Indexed Job (a long video's segments)

    @property
    def report(self) -> dict[str, Any]:
        """The converter's JSON termination message ({} when absent or not JSON, e.g. a log tail)."""
        try:
            value = json.loads(self.message or "")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class JobView:
    """What the operator needs from the converter Job."""

    name: str
    uid: str
    owner_uid: str | None
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    start_time: str | None = None
    outcome: str | None = None  # "Complete" or "Failed" once the Job has finished
    reason: str | None = None  # the Failed condition's reason, e.g. BackoffLimitExceeded
    message: str | None = None
    finished_at: str | None = None
    suspended: bool = False  # created suspended, not admitted yet (admission.py)
    deleting: bool = False  # replaced by a retry's Job, or going with its ConversionJob
    segments: int = 1  # pods encoding a part of the audio each (an Indexed Job's completions)


def pod_view(pod: Mapping[str, Any]) -> PodView:
    meta, status = pod["metadata"], pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ours = [c for c in statuses if c.get("name") == CONVERTER_CONTAINER] or statuses
    container = ours[0] if ours else {}
    state = container.get("state") or {}
    terminated, running = state.get("terminated") or {}, state.get("running") or {}
    waiting = state.get("waiting") or {}
    return PodView(
        name=meta["name"],
        job_uid=(meta.get("labels") or {}).get(CONTROLLER_UID_LABEL),
        created=meta.get("creationTimestamp") or "",
        phase=status.get("phase") or "Pending",
        deleting=bool(meta.get("deletionTimestamp")),
        exit_code=terminated.get("exitCode"),
        message=terminated.get("message"),
        started_at=terminated.get("startedAt") or running.get("startedAt"),
        finished_at=terminated.get("finishedAt"),
        terminated_reason=terminated.get("reason"),
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        index=_index((meta.get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)),
    )


def job_view(job: Mapping[str, Any]) -> JobView:
    meta, status, spec = job["metadata"], job.get("status") or {}, job.get("spec") or {}
    indexed = spec.get("completionMode") == "Indexed"
    owner = next((o["uid"] for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    view = JobView(
        name=meta["name"],
        uid=meta["uid"],
        owner_uid=owner,
        active=status.get("active") or 0,
        succeeded=status.get("succeeded") or 0,
        failed=status.get("failed") or 0,
        start_time=status.get("startTime"),
        suspended=bool(spec.get("suspend")),
        deleting=bool(meta.get("deletionTimestamp")),
        segments=int(spec.get("completions") or 1) if indexed else 1,
    )
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            finished = status.get("completionTime") or cond.get("lastTransitionTime")
            return _replace(view, outcome="Complete", finished_at=finished)
        if cond.get("type") == "Failed":
            return _replace(
                view,
                outcome="Failed",
                reason=cond.get("reason"),
                message=cond.get("message"),
                finished_at=cond.get("lastTransitionTime"),
            )
    return view


def _replace(view: JobView, **fields: Any) -> JobView:
    return JobView(**{**view.__dict__, **fields})


def _index(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
