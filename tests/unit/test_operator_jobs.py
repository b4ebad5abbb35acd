"""The converter Job and its RBAC, as built from a ConversionJob (pure: no cluster)."""

from __future__ import annotations

import json
from typing import Any

import kopf
import pytest

from common.exit_codes import BAD_INPUT
from common.resources import GROUP, JOB_LABEL, KUEUE_QUEUE_LABEL, OWNER_LABEL
from conversion_operator import jobs
from conversion_operator.settings import Settings
from converter_job.spec import Spec

UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def conversionjob(**spec: Any) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "mp4mp3.io/v1alpha1",
            "kind": "ConversionJob",
            "metadata": {
                "name": "cj-0123456789abcdef01234567",
                "namespace": "media",
                "uid": UID,
                "labels": {OWNER_LABEL: "42"},
            },
            "spec": {
                "source": {"videoId": "0123456789abcdef01234567", "filename": "talk.mp4", "size": 1000},
                "owner": {"userId": "42", "email": "ada@example.com"},
                **spec,
            },
        }
    )


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "namespace": "media",
        "amqp_url": "amqp://u:p@rabbit/",
        "mongo_uri": "mongodb://mongo/mp4mp3",
        "converter_mongo_uri": "mongodb://mongo/mp4mp3",
        "peering_priority": 1,
    }
    return Settings(**{**values, **overrides})


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_job_is_named_after_and_owned_by_its_conversionjob() -> None:
    job = jobs.job(conversionjob(), settings())
    assert job["metadata"]["name"] == "cj-0123456789abcdef01234567"
    assert job["metadata"]["namespace"] == "media"
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner["uid"] == UID and owner["kind"] == "ConversionJob" and owner["controller"] is True
    assert owner["blockOwnerDeletion"] is True


def test_building_twice_gives_the_same_job() -> None:
    # a replayed or resumed handler must ask for exactly the same object
    assert jobs.job(conversionjob(), settings()) == jobs.job(conversionjob(), settings())


def test_job_limits_retries_time_and_lifetime_from_settings() -> None:
    spec = jobs.job(conversionjob(), settings(job_backoff_limit=4, job_deadline_seconds=600))["spec"]
    assert spec["backoffLimit"] == 4
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_bad_input_exit_code_fails_the_job_at_once() -> None:
    rules = jobs.job(conversionjob(), settings())["spec"]["podFailurePolicy"]["rules"]
    fail = [r for r in rules if r["action"] == "FailJob"]
    assert fail == [
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "converter", "operator": "In", "values": [BAD_INPUT]},
        }
    ]
    assert any(r["action"] == "Ignore" for r in rules)  # evictions do not count against backoffLimit


def test_pod_runs_the_converter_with_requests_and_limits() -> None:
    pod = jobs.job(conversionjob(), settings(converter_image="registry/conv:1.2"))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "converter_job"]
    assert container["image"] == "registry/conv:1.2"
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "128Mi"}
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert "workingDir" not in container  # the image's, unless configured (the devstack's checkout)


def test_pod_identifies_its_conversionjob_through_the_downward_api() -> None:
    job = jobs.job(conversionjob(), settings())
    template = job["spec"]["template"]
    env = env_of(job)
    assert env["CONVERTER_JOB_NAME"] == {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_LABEL}']"}}
    assert env["CONVERTER_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert (
        env["CONVERTER_JOB_UID"]["fieldRef"]["fieldPath"]
        == f"metadata.annotations['{GROUP}/conversionjob-uid']"
    )
    assert template["metadata"]["labels"][JOB_LABEL] == "cj-0123456789abcdef01234567"
    assert template["metadata"]["labels"][OWNER_LABEL] == "42"
    assert template["metadata"]["annotations"][f"{GROUP}/conversionjob-uid"] == UID


def test_converter_spec_names_the_engine_the_conversionjob_or_the_operator_chose() -> None:
    default = Spec.model_validate_json(env_of(jobs.job(conversionjob(), settings()))["CONVERTER_SPEC"])
    assert default.engine == "ffmpeg"
    assert default.source.video_id == "0123456789abcdef01234567"
    by_setting = env_of(jobs.job(conversionjob(), settings(default_engine="moviepy")))["CONVERTER_SPEC"]
    assert json.loads(by_setting)["engine"] == "moviepy"
    by_job = env_of(jobs.job(conversionjob(engine="ffmpeg"), settings(default_engine="moviepy")))[
        "CONVERTER_SPEC"
    ]
    assert json.loads(by_job)["engine"] == "ffmpeg"


def test_mongo_uri_comes_from_a_secret_when_one_is_named() -> None:
    env = env_of(
        jobs.job(conversionjob(), settings(converter_mongo_secret="mongo", converter_mongo_uri=None))
    )
    assert env["CONVERTER_MONGO_URI"] == {"secretKeyRef": {"name": "mongo", "key": "uri"}}
    literal = env_of(jobs.job(conversionjob(), settings()))
    assert literal["CONVERTER_MONGO_URI"] == "mongodb://mongo/mp4mp3"


def test_settings_refuse_a_converter_without_a_way_to_mongo() -> None:
    with pytest.raises(ValueError, match="CONVERTER_MONGO"):
        settings(converter_mongo_uri=None)


def test_pod_runs_under_its_own_service_account_unless_a_shared_one_is_set() -> None:
    own = jobs.job(conversionjob(), settings())["spec"]["template"]["spec"]
    assert own["serviceAccountName"] == "cj-0123456789abcdef01234567-converter"
    shared = jobs.job(conversionjob(), settings(converter_service_account="mp4mp3-converter"))
    assert shared["spec"]["template"]["spec"]["serviceAccountName"] == "mp4mp3-converter"


def test_per_job_role_may_only_get_and_patch_its_own_status() -> None:
    account, role, binding = jobs.converter_rbac(conversionjob())
    assert [o["kind"] for o in (account, role, binding)] == ["ServiceAccount", "Role", "RoleBinding"]
    assert role["rules"] == [
        {
            "apiGroups": ["mp4mp3.io"],
            "resources": ["conversionjobs/status"],
            "resourceNames": ["cj-0123456789abcdef01234567"],
            "verbs": ["get", "patch"],
        }
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "media"}
    ]
    for obj in (account, role, binding):  # the garbage collector removes them with the ConversionJob
        assert obj["metadata"]["ownerReferences"][0]["uid"] == UID
        assert obj["metadata"]["namespace"] == "media"


def test_jobs_are_created_suspended_and_kueue_mode_names_the_queue() -> None:
    """Admission unsuspends our Jobs (admission.py); in kueue mode Kueue does, by its queue-name label."""
    ours = jobs.job(conversionjob(), settings())
    assert ours["spec"]["suspend"] is True and KUEUE_QUEUE_LABEL not in ours["metadata"]["labels"]
    kueue = jobs.job(conversionjob(), settings(admission="kueue", kueue_queue_name="conversions"))
    assert kueue["spec"]["suspend"] is True
    assert kueue["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "conversions"
    assert jobs.job(conversionjob(), settings(), "cj-x-r2")["metadata"]["name"] == "cj-x-r2"


def test_a_long_plain_mp3_is_split_across_the_configured_pods_and_anything_else_is_not() -> None:
    cfg = settings(converter_segments=4, converter_segment_threshold_seconds=1200)
    spec = conversionjob()["spec"]
    assert jobs.segments_for(spec, 3600.0, cfg) == 4
    assert jobs.segments_for(spec, 1199.0, cfg) == 1  # short
    assert jobs.segments_for(spec, None, cfg) == 1  # no readable movie header: one pod
    assert jobs.segments_for({**spec, "output": {"trim": {"start": 3000}}}, 3600.0, cfg) == 1  # 600 s left
    assert jobs.segments_for({**spec, "output": {"trim": {"end": 1500}}}, 3600.0, cfg) == 4
    for output in ({"format": "m4a"}, {"loudness": -16}, {"trimSilence": True}):
        assert (
            jobs.segments_for({**spec, "output": output}, 3600.0, cfg) == 1
        )  # segments.py cannot join those
    assert jobs.segments_for({**spec, "engine": "moviepy"}, 3600.0, cfg) == 1
    assert jobs.segments_for(spec, 3600.0, settings(converter_segments=1)) == 1  # switched off


def test_a_split_job_is_indexed_with_one_pod_per_part_keyed_by_the_jobs_uid() -> None:
    manifest = jobs.job(conversionjob(), settings(), segments=3)
    spec = manifest["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    env = {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["CONVERTER_SEGMENTS"]["value"] == "3"
    ref = env["CONVERTER_RUN_UID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert ref == "metadata.labels['batch.kubernetes.io/controller-uid']"
    plain = jobs.job(conversionjob(), settings())["spec"]
    assert "completionMode" not in plain and "CONVERTER_SEGMENTS" not in json.dumps(plain)
