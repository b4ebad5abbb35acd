"""The converter's Job and pods as the operator reads them (pure): exit code, report, outcome, owner."""

from __future__ import annotations

import json
from typing import Any

from conversion_operator import views
from conversion_operator.views import PodView

T0 = "2026-05-01T12:00:00Z"


def pod(name: str, phase: str, created: str = T0, **fields: Any) -> PodView:
    return PodView(name=name, job_uid="job-uid", created=created, phase=phase, **fields)


def report(**fields: Any) -> str:
    return json.dumps(fields)


def test_pod_view_reads_the_converters_exit_code_and_message() -> None:
    raw = {
        "metadata": {
            "name": "cj-1-abc",
            "creationTimestamp": T0,
            "labels": {"batch.kubernetes.io/controller-uid": "job-uid"},
        },
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "converter",
                    "state": {
                        "terminated": {
                            "exitCode": 10,
                            "message": report(reason="NoAudioStream"),
                            "startedAt": T0,
                            "finishedAt": "2026-05-01T12:00:04Z",
                        }
                    },
                }
            ],
        },
    }
    view = views.pod_view(raw)
    assert (view.phase, view.exit_code, view.job_uid, view.started_at) == ("Failed", 10, "job-uid", T0)
    assert view.finished_at == "2026-05-01T12:00:04Z"
    assert view.report == {"reason": "NoAudioStream"}
    assert pod("p", "Failed", message="Traceback (most recent call last): ...").report == {}


def test_job_view_reads_outcome_reason_and_owner() -> None:
    raw = {
        "metadata": {
            "name": "cj-1",
            "uid": "job-uid",
            "ownerReferences": [{"uid": "cr-uid", "controller": True}],
        },
        "status": {
            "failed": 1,
            "startTime": T0,
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy"},
                {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "lastTransitionTime": T0},
            ],
        },
    }
    view = views.job_view(raw)
    assert (view.owner_uid, view.outcome, view.reason, view.failed, view.finished_at) == (
        "cr-uid",
        "Failed",
        "PodFailurePolicy",
        1,
        T0,
    )


def test_an_indexed_jobs_parts_and_its_pods_index_are_read() -> None:
    indexed = {
        "metadata": {"name": "j", "uid": "u"},
        "spec": {"completionMode": "Indexed", "completions": 4, "parallelism": 4},
    }
    assert views.job_view(indexed).segments == 4
    assert views.job_view({"metadata": {"name": "j", "uid": "u"}, "spec": {"completions": 1}}).segments == 1
    annotated = {
        "metadata": {"name": "p", "annotations": {"batch.kubernetes.io/job-completion-index": "2"}},
        "status": {"phase": "Running"},
    }
    assert views.pod_view(annotated).index == 2
    assert views.pod_view({"metadata": {"name": "p"}, "status": {}}).index is None
