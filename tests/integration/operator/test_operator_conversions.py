"""ConversionJobs on the devstack, end to end: kubectl apply -> Job -> converter pod -> MP3 in GridFS,
status, kubectl columns, Events and outcome events, through operator processes of this checkout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from common.resources import mp3_id
from devstack.process import wait_until as wait_for
from tests.support.operator_harness import audio_seconds, ffprobe, top_level_atoms
from tests.support.operator_world import OperatorWorld

pytestmark = pytest.mark.devstack


def download_mp3(world: OperatorWorld, file_id: str, dest: Path) -> Path:
    return world.download_mp3(file_id, dest)


def test_applied_conversionjob_succeeds_with_a_valid_mp3(
    world: OperatorWorld, media: Path, tmp_path: Path
) -> None:
    name = world.submit(media / "talk.mp4", owner="ada")
    st = world.wait_settled(name)
    cr = world.conversionjob(name)
    assert cr is not None
    assert st["phase"] == "Succeeded" and st["progress"] == 100 and st["attempts"] == 1
    assert st["mp3Id"] == str(mp3_id(cr["metadata"]["uid"]))
    mp3 = download_mp3(world, st["mp3Id"], tmp_path / "talk.mp3")
    probe = ffprobe(mp3)
    assert probe["format"]["format_name"] == "mp3"
    assert [s["codec_name"] for s in probe["streams"]] == ["mp3"]
    assert audio_seconds(mp3) == pytest.approx(audio_seconds(media / "talk.mp4"), abs=0.1)
    assert st["audioSeconds"] == pytest.approx(audio_seconds(mp3), abs=0.01)
    assert st["mp3Size"] == mp3.stat().st_size
    (stored,) = world.mp3s_of(name)
    assert stored["metadata"] == {"owner": "ada", "job": name, "filename": "talk.mp3"}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conditions == {
        "Progressing": ("False", "Converted"),
        "Complete": ("True", "Converted"),
        "Failed": ("False", "Converted"),
    }
    assert st["observedGeneration"] == cr["metadata"]["generation"]
    (event,) = world.tap.events_for(name)
    assert event["type"] == "conversion.succeeded" and event["mp3_id"] == st["mp3Id"]
    assert event["owner"] == {"user_id": "ada", "email": "ada@example.com"}


def test_kubectl_get_cvj_shows_the_columns_with_real_values(world: OperatorWorld, media: Path) -> None:
    name = world.submit(media / "talk.mp4", owner="grace")
    world.wait_settled(name)
    table = world.kubectl("get", "cvj", name, "-o", "wide")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    # cut the row where the header's columns start: an empty cell (QUEUE once admitted) is blank
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], len(row)], strict=True)]
    columns = dict(zip(names, cells, strict=True))
    assert columns["QUEUE"] in ("", "<none>")  # no place in the queue once it ran
    assert columns["NAME"] == name
    assert columns["PHASE"] == "Succeeded"
    assert columns["PROGRESS"] == "100"
    assert columns["OWNER"] == "grace@example.com"
    assert columns["SOURCE"] == "talk.mp4"
    assert re.fullmatch(r"\d+s", columns["DURATION"])
    assert columns["ATTEMPTS"] == "1"
    assert columns["MESSAGE"].startswith("Converted talk.mp4 into 5.0 s")
    assert re.fullmatch(r"\d+s", columns["AGE"])
    by_category = world.kubectl("get", "mp4mp3", "-o", "name")  # the CRD's category
    assert f"conversionjob.mp4mp3.io/{name}" in by_category.stdout.split()


def test_describe_tells_the_story_in_events(world: OperatorWorld, media: Path) -> None:
    name = world.submit(media / "talk.mp4")
    world.wait_settled(name)
    reasons = [
        e["reason"]
        for e in world.events_once(name, "JobCreated", "Converting", "Converted", "OutcomePublished")
    ]
    assert not [r for r in reasons if r.startswith("Handler")], reasons  # Kopf's chatter stays out
    described = world.kubectl("describe", "cvj", name)
    assert "Converted talk.mp4 into 5.0 s of MP3 audio." in described.stdout


def test_video_without_audio_fails_after_one_attempt_with_a_clear_reason(
    world: OperatorWorld, media: Path
) -> None:
    name = world.submit(media / "silent.mp4")
    st = world.wait_settled(name)
    assert st["phase"] == "Failed"
    assert st["reason"] == "NoAudioStream"
    assert st["message"] == "The video has no audio track to convert."
    assert st["attempts"] == 1
    assert len(world.objects("pods", name)) == 1  # failed at once: no retry of bad input

    def job_failed_by_policy() -> bool:  # recorded a moment after the pod's end settled the job
        (job,) = world.objects("jobs", name)
        conditions = job.get("status", {}).get("conditions") or []
        return any(c["type"] == "Failed" and c["reason"] == "PodFailurePolicy" for c in conditions)

    wait_for(job_failed_by_policy, 30, "the Job to fail by its pod failure policy")
    assert len(world.objects("pods", name)) == 1
    assert world.mp3s_of(name) == []
    (event,) = world.tap.events_for(name)
    assert (event["type"], event["reason"]) == ("conversion.failed", "NoAudioStream")
    warnings = [e for e in world.events_once(name, "NoAudioStream") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["NoAudioStream"]


def test_mp4_with_its_index_at_the_end_converts_correctly(
    world: OperatorWorld, media: Path, tmp_path: Path
) -> None:
    video = media / "index-at-end.mp4"
    atoms = top_level_atoms(video)
    assert atoms.index("moov") > atoms.index("mdat")  # ffmpeg's default layout: no +faststart
    name = world.submit(video)
    st = world.wait_settled(name)
    assert st["phase"] == "Succeeded"
    mp3 = download_mp3(world, st["mp3Id"], tmp_path / "end.mp3")
    assert audio_seconds(mp3) == pytest.approx(audio_seconds(video), abs=0.1)


def test_output_options_and_the_moviepy_engine(world: OperatorWorld, media: Path, tmp_path: Path) -> None:
    options = {"bitrate": "96k", "channels": 1, "sampleRate": 22050, "trim": {"start": 1.0, "end": 3.5}}
    name = world.submit(media / "talk.mp4", output=options, engine="moviepy")
    st = world.wait_settled(name)
    assert st["phase"] == "Succeeded", st.get("message")
    probe = ffprobe(download_mp3(world, st["mp3Id"], tmp_path / "trim.mp3"))
    (stream,) = probe["streams"]
    assert (stream["channels"], stream["sample_rate"]) == (1, "22050")
    assert float(probe["format"]["duration"]) == pytest.approx(2.5, abs=0.1)


def test_conversionjob_for_a_video_that_is_not_stored_fails_without_a_job(world: OperatorWorld) -> None:
    source = {"videoId": "0123456789abcdef0123abcd", "filename": "gone.mp4", "size": 10}
    done = world.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(world.manifest(source)))
    assert done.returncode == 0, done.stderr
    name = "cj-0123456789abcdef0123abcd"
    st = world.wait_settled(name)
    assert (st["phase"], st["reason"], st["attempts"]) == ("Failed", "SourceMissing", 0)
    assert st["message"] == "The uploaded video is no longer stored; upload it again."
    assert world.objects("jobs", name) == []
    (event,) = world.tap.events_for(name)
    assert event["reason"] == "SourceMissing"
