"""A long video converted by several converter pods at once, end to end on the node: the operator
reads the video's length from its movie header, runs an Indexed Job of three pods (each encodes a
third of the audio and stores it), and the pod that stores the last part joins them into one MP3.

The MP3 is compared with a single-pass encode of the same video made here with the converter's own
ffmpeg arguments: the same decoded length to the sample, no decoder complaint, and around each join
the SNR and the largest step that tests/support/mp3_joins.py holds the segment tests to (a 440 Hz
tone crosses every join)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mutagen.id3 import ID3

from common.resources import COMPLETION_INDEX_ANNOTATION
from converter_job import probe, segments
from converter_job.convert import Extras, ffmpeg_argv
from converter_job.spec import Output
from devstack.process import wait_until as wait_for
from tests.support.mp3_joins import assert_joins_match, decode, decoder_complaints
from tests.support.operator_harness import make_video
from tests.support.operator_world import OperatorWorld
from tests.support.world import Worlds

pytestmark = pytest.mark.devstack

PODS = 3


def test_a_long_video_is_encoded_by_three_pods_at_once_and_joined_into_one_gapless_mp3(
    worlds: Worlds, tmp_path: Path
) -> None:
    world = worlds.new(OperatorWorld)
    # "long" is 20 s here (20 minutes by default), so that a test video can be long
    world.start_operator(
        OPERATOR_CONVERTER_SEGMENTS=str(PODS), OPERATOR_CONVERTER_SEGMENT_THRESHOLD_SECONDS="20"
    )
    video = make_video(tmp_path / "long-talk.mp4", 24, stereo=True)
    name = world.submit(video, output={"tags": {"artist": "Ada Lovelace"}})

    st = world.wait_settled(name, timeout=180)

    assert (st["phase"], st["segments"]) == ("Succeeded", PODS), st.get("message")
    assert st["message"].endswith(f"Encoded in {PODS} parts at once, then joined.")
    [job] = world.objects("jobs", name)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", PODS, PODS)
    def ended() -> list[dict[str, Any]] | None:  # the joiner settles the job before its pod ends
        pods = world.objects("pods", name)
        states = [(p["status"].get("containerStatuses") or [{}])[0].get("state") or {} for p in pods]
        return pods if all("terminated" in state for state in states) else None

    reports = {
        int(pod["metadata"]["annotations"][COMPLETION_INDEX_ANNOTATION]): json.loads(
            pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
        )
        for pod in wait_for(ended, 60, "the converter pods to end")
    }
    assert sorted(reports) == list(range(PODS))  # one pod per part, none retried
    [joiner] = [index for index, report in reports.items() if "mp3Id" in report]
    assert reports[joiner]["segments"] == PODS
    for index, report in reports.items():
        if index != joiner:  # stored its part and left the joining to another
            assert (report["part"], report["of"], report["skipped"]) == (index, PODS, False)
            assert report["size"] > 0

    mp3 = world.download_mp3(st["mp3Id"], tmp_path / "long-talk.mp3")
    single = tmp_path / "single.mp3"
    info = probe.probe("ffprobe", video, 30)
    span = probe.window(info, None)
    subprocess.run(ffmpeg_argv("ffmpeg", video, single, Output(), span, Extras(), 44100), check=True)
    pcm, reference = decode(mp3), decode(single)
    assert len(pcm) == len(reference)
    assert decoder_complaints(mp3) == ""
    plan = segments.plan(span, 44100, PODS, source_rate=44100)
    assert len(plan) == PODS
    assert_joins_match(pcm, reference, None, plan, 44100, f"{PODS} pods on the node")
    tags = ID3(mp3)
    assert (str(tags["TIT2"]), str(tags["TPE1"])) == ("long-talk", "Ada Lovelace")

    # the parts went once joined; one outcome, as for any job
    assert world.db["segments.files"].count_documents({"metadata.job": name}) == 0
    assert world.db["segments.done"].count_documents({"job": name}) == 0
    assert [e["type"] for e in world.tap.events_for(name)] == ["conversion.succeeded"]
