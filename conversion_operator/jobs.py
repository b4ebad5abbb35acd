"""The objects the operator makes for a ConversionJob, as plain dicts (pure: no API calls).

- the batch/v1 Job named after the ConversionJob, running ``python -m converter_job``;
- unless one shared converter ServiceAccount is configured, a ServiceAccount + Role + RoleBinding
  per ConversionJob that may only get/patch that one ConversionJob's status.
All are owned by the ConversionJob (``kopf.adopt``), so the garbage collector removes them with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import kopf

from common.exit_codes import BAD_INPUT
from common.resources import (
    COMPONENT_LABEL,
    CONTROLLER_UID_LABEL,
    GROUP,
    JOB_LABEL,
    KUEUE_QUEUE_LABEL,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    OWNER_LABEL,
    PLURAL,
    UID_ANNOTATION,
)
from conversion_operator.settings import Settings

CONTAINER = "converter"
WORK_VOLUME = "work"

Body = kopf.Body  # the ConversionJob


def converter_account(name: str) -> str:
    return f"{name}-converter"


def labels(body: Body) -> dict[str, str]:
    meta = body["metadata"]
    out = {
        NAME_LABEL: "mp4mp3",
        COMPONENT_LABEL: "converter",
        MANAGED_BY_LABEL: "mp4mp3-operator",
        JOB_LABEL: meta["name"],
    }
    owner = (meta.get("labels") or {}).get(OWNER_LABEL)
    if owner:
        out[OWNER_LABEL] = owner
    return out


def segments_for(spec: Mapping[str, Any], seconds: float | None, settings: Settings) -> int:
    """How many pods encode this ConversionJob's audio: the configured number for a long plain MP3
    (what converter_job/segments.py can join: no loudness pass, no silence trimming, ffmpeg), else
    one. ``seconds`` is the video's duration from its movie header (None: unknown, one pod)."""
    output = spec.get("output") or {}
    if settings.converter_segments < 2 or seconds is None:
        return 1
    if (
        output.get("format", "mp3") != "mp3"
        or output.get("loudness") is not None
        or output.get("trimSilence")
    ):
        return 1
    if (spec.get("engine") or settings.default_engine) != "ffmpeg":
        return 1
    trim = output.get("trim") or {}
    end = seconds if trim.get("end") is None else min(float(trim["end"]), seconds)
    audio = end - float(trim.get("start") or 0)
    return settings.converter_segments if audio >= settings.converter_segment_threshold_seconds else 1


def job(body: Body, settings: Settings, name: str | None = None, segments: int = 1) -> dict[str, Any]:
    """The converter Job: named after the ConversionJob (``name``: a retry's series), owned by it,
    failing at once on bad input, created suspended: admission (admission.py, or Kueue) starts it.
    With ``segments`` > 1 it is an Indexed Job: that many pods at once, each encoding its part."""
    name = name or body["metadata"]["name"]
    job_labels = labels(body)
    if settings.admission == "kueue":
        job_labels[KUEUE_QUEUE_LABEL] = settings.kueue_queue_name
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": job_labels},
        "spec": {
            "suspend": True,
            "backoffLimit": settings.job_backoff_limit,
            "activeDeadlineSeconds": settings.job_deadline_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "podFailurePolicy": {
                "rules": [
                    {  # the converter's "bad input" code: another attempt cannot help
                        "action": "FailJob",
                        "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [BAD_INPUT]},
                    },
                    {  # an evicted or preempted pod is not the conversion's fault
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                ]
            },
            "template": {
                "metadata": {
                    "labels": labels(body),
                    "annotations": {UID_ANNOTATION: body["metadata"]["uid"]},
                },
                "spec": _pod_spec(body, settings, segments),
            },
        },
    }
    if segments > 1:  # the pod of each index knows it as JOB_COMPLETION_INDEX (Kubernetes sets it)
        manifest["spec"].update(completionMode="Indexed", completions=segments, parallelism=segments)
    kopf.adopt(manifest, owner=body)
    return manifest


def _pod_spec(body: Body, settings: Settings, segments: int = 1) -> dict[str, Any]:
    name = body["metadata"]["name"]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",  # retries are the Job's, counted against backoffLimit
        "serviceAccountName": settings.converter_service_account or converter_account(name),
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.job_termination_grace_seconds,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": CONTAINER,
                "image": settings.converter_image,
                "imagePullPolicy": settings.converter_image_pull_policy,
                "command": list(settings.converter_command),
                "env": converter_env(body, settings, segments),
                "resources": _resources(settings),
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [{"name": WORK_VOLUME, "mountPath": "/tmp"}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": [{"name": WORK_VOLUME, "emptyDir": {"sizeLimit": settings.converter_work_dir_limit}}],
    }
    if settings.converter_working_dir:
        spec["containers"][0]["workingDir"] = settings.converter_working_dir
    return spec


def converter_env(body: Body, settings: Settings, segments: int = 1) -> list[dict[str, Any]]:
    spec = body["spec"]
    converter_spec = {
        "source": spec["source"],
        "owner": spec["owner"],
        "output": spec.get("output") or {},
        "engine": spec.get("engine") or settings.default_engine,
    }
    env = [
        _field("CONVERTER_JOB_NAME", f"metadata.labels['{JOB_LABEL}']"),
        _field("CONVERTER_NAMESPACE", "metadata.namespace"),
        _field("CONVERTER_JOB_UID", f"metadata.annotations['{UID_ANNOTATION}']"),
        _field("CONVERTER_POD_NAME", "metadata.name"),
        {"name": "CONVERTER_SPEC", "value": json.dumps(converter_spec, sort_keys=True)},
        _mongo_uri(settings),
        {"name": "CONVERTER_PROGRESS_INTERVAL", "value": str(settings.converter_progress_interval)},
        {"name": "CONVERTER_PROBE_TIMEOUT", "value": str(settings.converter_probe_timeout)},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if segments > 1:  # the Job's uid keys the parts its pods store (a retry's Job starts afresh)
        env += [
            {"name": "CONVERTER_SEGMENTS", "value": str(segments)},
            _field("CONVERTER_RUN_UID", f"metadata.labels['{CONTROLLER_UID_LABEL}']"),
        ]
    return env


def _field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _mongo_uri(settings: Settings) -> dict[str, Any]:
    if settings.converter_mongo_secret:
        ref = {"name": settings.converter_mongo_secret, "key": settings.converter_mongo_secret_key}
        return {"name": "CONVERTER_MONGO_URI", "valueFrom": {"secretKeyRef": ref}}
    assert settings.converter_mongo_uri is not None  # the settings validate that one is set
    return {"name": "CONVERTER_MONGO_URI", "value": settings.converter_mongo_uri.get_secret_value()}


def _resources(settings: Settings) -> dict[str, Any]:
    limits = {"memory": settings.converter_memory_limit}
    if settings.converter_cpu_limit:
        limits["cpu"] = settings.converter_cpu_limit
    requests = {"cpu": settings.converter_cpu_request, "memory": settings.converter_memory_request}
    return {"requests": requests, "limits": limits}


def converter_rbac(body: Body) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding letting one converter patch its own ConversionJob's status."""
    account = converter_account(body["metadata"]["name"])
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account}
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "labels": labels(body)}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": account, "labels": labels(body)},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": [f"{PLURAL}/status"],
                    "resourceNames": [body["metadata"]["name"]],
                    "verbs": ["get", "patch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "labels": labels(body)},
            "roleRef": role_ref,
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": body["metadata"]["namespace"]}
            ],
        },
    ]
    for obj in objects:
        kopf.adopt(obj, owner=body)
    return objects
