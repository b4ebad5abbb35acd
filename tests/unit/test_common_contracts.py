"""The contracts in common/ agree with what the services and the CRD publish: one list of phases,
one duration format, one ConversionJob manifest whichever way the job was requested."""

from __future__ import annotations

import typing

import pytest
import yaml

from common.durations import human_duration
from common.events import ConversionRequested, JobRef, Owner
from common.phases import PHASES, TERMINAL
from common.resources import FINALIZER, OWNER_LABEL, conversion_job, conversion_job_labels
from conversion_operator.requested import conversionjob
from devstack.config import ROOT
from gateway.schemas import Phase


def test_the_crd_enumerates_exactly_the_phases_in_common() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "conversionjobs.mp4mp3.io.yaml").read_text())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert tuple(status["properties"]["phase"]["enum"]) == PHASES


def test_the_api_shows_every_phase_and_unknown_while_kubernetes_cannot_be_asked() -> None:
    assert typing.get_args(Phase) == (*PHASES, "Unknown")


def test_the_terminal_phases_are_the_final_outcomes() -> None:
    assert {"Succeeded", "Failed", "Cancelled"} == TERMINAL and set(PHASES) > TERMINAL


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.4, "0s"), (12.4, "12s"), (59.6, "1m0s"), (184, "3m4s"), (205, "3m25s"), (3723, "1h2m3s")],
)
def test_durations_read_like_kubectls_everywhere(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_the_operator_creates_from_the_event_the_manifest_the_gateway_creates() -> None:
    spec = {"source": {"videoId": "0" * 24, "filename": "a.mp4"}}
    gateway_made = conversion_job("cj-1", "mp4mp3", spec, conversion_job_labels("42"))
    event = ConversionRequested(
        event_id="e1",
        job=JobRef(name="cj-1", namespace="mp4mp3"),
        owner=Owner(user_id="42", email="a@example.com"),
        spec=spec,
        labels=conversion_job_labels("42"),
    )
    assert conversionjob(event) == gateway_made
    assert gateway_made["metadata"]["labels"][OWNER_LABEL] == "42"
    assert gateway_made["metadata"]["finalizers"] == [FINALIZER]
