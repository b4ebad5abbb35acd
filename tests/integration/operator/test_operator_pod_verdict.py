"""A converter's end settles its ConversionJob before the Job controller records the Job's outcome;
so does the report it patches into the status once its MP3 is stored, before its pod has ended.

The test pauses the devstack's controller manager (SIGSTOP to the process the devstack started)
once the converter pods exist, so no Job condition can be written while it plays the converters
(play_converter: the pods are held off the node); the ConversionJobs settle all the same, from the
pods' terminations. Once the controller manager runs again the Jobs record Complete and Failed, and
nothing changes. tests/e2e and the operator's other tests settle jobs with real converters.

serial: while the controller manager is paused, no other test's Job moves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.exit_codes import BAD_INPUT
from devstack.process import wait_until as wait_for
from devstack.stack import Stack
from tests.support.operator_world import OperatorWorld, play_converter, play_converter_report
from tests.support.world import Worlds

pytestmark = [pytest.mark.devstack, pytest.mark.serial]

REFUSED = {"reason": "NoAudioStream", "message": "The video has no audio track to convert."}


@pytest.fixture
def played(worlds: Worlds, tmp_path: Path) -> tuple[OperatorWorld, Path]:
    """A world of its own whose pods are held off the node (the test plays the converter), an
    operator on it, and a video that is never converted."""
    world = worlds.new(OperatorWorld)
    world.hold_pods()
    world.start_operator()
    video = tmp_path / "fake.mp4"
    video.write_bytes(b"\x00" * 64)
    return world, video


@contextlib.contextmanager
def controller_manager_paused(stack: Stack) -> Iterator[None]:
    """The devstack's kube-controller-manager stopped (SIGSTOP) and always continued afterwards."""
    proc = stack["kube-controller-manager"].main.process()
    assert proc is not None, "the devstack's controller manager is not running"
    proc.suspend()
    try:
        yield
    finally:
        proc.resume()


def job_conditions(world: OperatorWorld, name: str) -> set[str]:
    (job,) = world.objects("jobs", name)
    conditions = (job.get("status") or {}).get("conditions") or []
    return {c["type"] for c in conditions if c.get("status") == "True"}


def test_conversionjobs_settle_from_the_pods_end_while_the_job_controller_is_paused_playing_the_converter(
    played: tuple[OperatorWorld, Path], devstack: Stack
) -> None:
    world, video = played
    converted, refused = world.submit(video, owner="ada"), world.submit(video, owner="bob")
    pods = (converted, refused)
    wait_for(lambda: all(world.objects("pods", name) for name in pods), 60, "the converter pods")

    with controller_manager_paused(devstack):
        play_converter(world, converted)
        play_converter(world, refused, exit_code=BAD_INPUT, report=REFUSED)
        done = world.wait_settled(converted, timeout=30)
        failed = world.wait_settled(refused, timeout=30)
        # still paused: nothing but the pods' ends can have told the operator
        assert job_conditions(world, converted) == set() and job_conditions(world, refused) == set()

    assert (done["phase"], done["reason"], done["mp3Size"], done["progress"]) == (
        "Succeeded",
        "Converted",
        1003,
        100,
    )
    assert (failed["phase"], failed["reason"], failed["message"], failed["attempts"]) == (
        "Failed",
        "NoAudioStream",
        REFUSED["message"],
        1,
    )
    events = {name: [e["type"] for e in world.tap.events_for(name)] for name in (converted, refused)}
    assert events == {converted: ["conversion.succeeded"], refused: ["conversion.failed"]}

    # the controller manager again: the Jobs record what the pods said, and the verdicts stand
    wait_for(lambda: "Complete" in job_conditions(world, converted), 60, "the Job to record Complete")
    wait_for(lambda: "Failed" in job_conditions(world, refused), 60, "the Job to record Failed")
    after: dict[str, dict[str, Any]] = {name: world.status(name) for name in (converted, refused)}
    assert (after[converted]["phase"], after[converted]["finishedAt"]) == ("Succeeded", done["finishedAt"])
    assert (after[refused]["phase"], after[refused]["reason"]) == ("Failed", "NoAudioStream")
    assert [len(world.tap.events_for(name)) for name in (converted, refused)] == [1, 1]
    assert len(world.mp3s_of(converted)) == 1


def test_the_converters_report_settles_it_before_its_pod_ends_playing_the_converter(
    played: tuple[OperatorWorld, Path],
) -> None:
    world, video = played
    name = world.submit(video, owner="cy")

    report = play_converter_report(world, name)
    done = world.wait_settled(name, timeout=30)

    assert (done["phase"], done["mp3Id"], done["mp3Size"]) == ("Succeeded", report["mp3Id"], 1003)
    (pod,) = world.objects("pods", name)
    assert pod["status"]["phase"] == "Pending"  # it has not even started: only the report told
    assert job_conditions(world, name) == set()
    assert [e["type"] for e in world.tap.events_for(name)] == ["conversion.succeeded"]

    # its pod ends as the report said; the Job records Complete and nothing changes
    play_converter(world, name)
    wait_for(lambda: "Complete" in job_conditions(world, name), 60, "the Job to record Complete")
    assert (world.status(name)["phase"], world.status(name)["finishedAt"]) == (
        "Succeeded",
        done["finishedAt"],
    )
    assert len(world.tap.events_for(name)) == 1
