"""Least privilege and validation: what a converter pod may do (its own status, nothing else), what
the operator may do, and specs the API server refuses before any operator sees them."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.resources import job_name
from devstack.config import ROOT
from devstack.process import wait_until as wait_for
from tests.support.operator_world import OperatorWorld
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack

# Runs as the converter's container command, in the converter's pod, under its ServiceAccount:
# every answer from the API server goes to the termination message.
PROBE = textwrap.dedent("""
    import json, os, pathlib, ssl, sys, urllib.error, urllib.request
    sa = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
    api = "https://%s:%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
    ns, me, other = os.environ["CONVERTER_NAMESPACE"], os.environ["CONVERTER_JOB_NAME"], sys.argv[1]
    cj = "/apis/mp4mp3.io/v1alpha1/namespaces/%s/conversionjobs/" % ns
    def call(method, path, body=None):
        req = urllib.request.Request(api + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": "Bearer " + (sa / "token").read_text(),
                     "Content-Type": "application/merge-patch+json"})
        tls = ssl.create_default_context(cafile=str(sa / "ca.crt"))
        try:
            return urllib.request.urlopen(req, context=tls).status
        except urllib.error.HTTPError as exc:
            return exc.code
    answers = {
        "patch own status": call("PATCH", cj + me + "/status", {"status": {"progress": 42}}),
        "get own status": call("GET", cj + me + "/status"),
        "patch own spec": call("PATCH", cj + me, {"spec": {"engine": "moviepy"}}),
        "delete own": call("DELETE", cj + me),
        "list secrets": call("GET", "/api/v1/namespaces/%s/secrets" % ns),
        "get a secret": call("GET", "/api/v1/namespaces/%s/secrets/mongo-credentials" % ns),
        "patch another's status": call("PATCH", cj + other + "/status", {"status": {"progress": 99}}),
        "list pods": call("GET", "/api/v1/namespaces/%s/pods" % ns),
    }
    pathlib.Path("/dev/termination-log").write_text(json.dumps(answers))
""")


def termination_message(world: OperatorWorld, name: str) -> dict[str, Any] | None:
    for pod in world.objects("pods", name):
        state = pod["status"].get("containerStatuses", [{}])[0].get("state", {})
        if "terminated" in state:
            return dict(json.loads(state["terminated"]["message"]))
    return None


def test_converter_pod_may_patch_its_own_status_and_nothing_else(worlds: Worlds, media: Path) -> None:
    world = worlds.new(OperatorWorld)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mongo-credentials"},
        "stringData": {"uri": "x"},
    }
    assert world.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(secret)).returncode == 0
    other = world.put_video(media / "talk.mp4")
    mine = world.put_video(media / "talk.mp4")
    # the operator runs the probe instead of the converter: same Job, pod, ServiceAccount and Role
    world.start_operator(
        OPERATOR_CONVERTER_COMMAND=json.dumps(["python", "-c", PROBE, job_name(other["videoId"])])
    )
    for source in (other, mine):
        done = world.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(world.manifest(source)))
        assert done.returncode == 0, done.stderr
    name = job_name(mine["videoId"])

    answers = wait_for(lambda: termination_message(world, name), 120, "the probe in the converter's pod")
    assert answers == {
        "patch own status": 200,
        "get own status": 200,
        "patch own spec": 403,
        "delete own": 403,
        "list secrets": 403,
        "get a secret": 403,
        "patch another's status": 403,
        "list pods": 403,
    }
    (pod,) = world.objects("pods", name)
    assert pod["spec"]["serviceAccountName"] == f"{name}-converter"


def test_operator_rights_are_the_few_it_needs(world: OperatorWorld, kubectl: list[str]) -> None:
    account = f"system:serviceaccount:{world.namespace}:mp4mp3-operator"

    def can(verb: str, resource: str, namespace: str = world.namespace) -> bool:
        argv = [*kubectl, "auth", "can-i", verb, resource, "-n", namespace, f"--as={account}"]
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip() == "yes"

    granted = [
        ("create", "jobs.batch"),
        ("delete", "jobs.batch"),
        ("patch", "jobs.batch"),  # admission unsuspends
        ("delete", "conversionjobs.mp4mp3.io"),  # retention
        ("patch", "conversionjobs.mp4mp3.io/status"),
        ("create", "conversionjobs.mp4mp3.io"),
        ("watch", "pods"),
        ("create", "events"),
    ]
    refused = [
        ("get", "secrets"),
        ("deletecollection", "conversionjobs.mp4mp3.io"),
        ("create", "pods"),
        ("update", "jobs.batch"),
        ("delete", "roles.rbac.authorization.k8s.io"),
    ]
    assert [r for r in granted if not can(*r)] == []
    assert [r for r in refused if can(*r)] == []
    assert not can("list", "conversionjobs.mp4mp3.io", namespace="default")  # its namespace only
    for path in (ROOT / "deploy" / "rbac").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for rule in doc.get("rules", []):
                assert "*" not in [*rule["verbs"], *rule["resources"], *rule["apiGroups"]], path.name


INVALID = [
    ({"output": {"bitrate": "100k"}}, 'Unsupported value: "100k"'),
    ({"output": {"bitrate": "128k", "quality": 2}}, "set either bitrate (CBR) or quality (VBR), not both"),
    ({"output": {"quality": 12}}, "should be less than or equal to 9"),
    ({"output": {"trim": {"start": 5, "end": 2}}}, "trim.end must be after trim.start"),
    ({"output": {"channels": 3}}, "Unsupported value: 3"),
    ({"output": {"format": "m4a", "quality": 2}}, "quality (LAME VBR) is for format mp3 only"),
    ({"output": {"format": "flac", "bitrate": "192k"}}, "flac is lossless and takes no bitrate"),
    ({"output": {"format": "opus", "sampleRate": 44100}}, "opus is always 48000 Hz"),
    ({"output": {"coverArt": "middle"}}, "spec.output.coverArt"),
    ({"output": {"loudness": -2}}, "spec.output.loudness"),
    ({"engine": "vlc"}, 'Unsupported value: "vlc"'),
    ({"owner": None}, "spec.owner: Required value"),
    ({"owner": {"userId": "u-1", "email": "nobody"}}, "spec.owner.email"),
    ({"source": {"videoId": "not-hex", "filename": "a.mp4", "size": 3}}, "spec.source.videoId"),
    (
        {"source": {"videoId": "0" * 24, "filename": "a.mp4", "size": 0}},
        "should be greater than or equal to 1",
    ),
    ({"colour": "blue"}, 'unknown field "spec.colour"'),
]


@pytest.mark.parametrize(("change", "refusal"), INVALID, ids=[r for _, r in INVALID])
def test_invalid_specs_are_refused_by_kubectl_apply(
    world: OperatorWorld, change: dict[str, Any], refusal: str
) -> None:
    manifest = world.manifest({"videoId": "0123456789abcdef01234567", "filename": "a.mp4", "size": 3})
    manifest["metadata"]["name"] = "cj-invalid"
    manifest["spec"] = {k: v for k, v in {**manifest["spec"], **change}.items() if v is not None}
    done = world.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    assert done.returncode != 0
    assert refusal in done.stderr, done.stderr
    assert world.conversionjob("cj-invalid") is None


def test_spec_cannot_change_once_created(world: OperatorWorld, media: Path) -> None:
    name = world.submit(media / "talk.mp4")
    done = world.kubectl("patch", "cvj", name, "--type=merge", "-p", '{"spec": {"engine": "moviepy"}}')
    assert done.returncode != 0
    assert "spec is immutable" in done.stderr


def test_kubectl_explain_describes_the_spec(world: OperatorWorld) -> None:
    done = world.kubectl("explain", "conversionjob.spec.output")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # kubectl wraps the descriptions at its own width
    for words in ("Constant bitrate by default", "LAME VBR quality", "Convert only part of the audio"):
        assert words in text
