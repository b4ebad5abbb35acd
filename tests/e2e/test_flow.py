"""End to end, as a user: only the public HTTP APIs and the mailbox.

signup -> login -> upload -> the ConversionJob runs as a Kubernetes Job -> email -> download.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devstack import mailbox
from devstack.samples import probe_codec, probe_duration, sample_video
from tests.support.e2e_harness import User, upload, wait_until_done

pytestmark = [pytest.mark.devstack, pytest.mark.e2e]


def test_video_becomes_an_mp3_and_its_owner_is_emailed(
    http: httpx.Client, urls: dict[str, str], tmp_path: Path
) -> None:
    user = User(http, urls["auth"])
    video = sample_video(seconds=12)
    job_id = upload(http, urls["gateway"], user, video, bitrate="128k")

    job = wait_until_done(http, urls["gateway"], user, job_id)
    assert job["phase"] == "Succeeded", job
    assert job["progress"] == 100

    _, mail = mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    text = mailbox.text_of(mail)
    assert f"/jobs/{job_id}/mp3" in text
    assert video.name in text
    assert mailbox.text_of(mail, "html")  # both parts

    target = tmp_path / "out.mp3"
    with http.stream("GET", f"{urls['gateway']}/jobs/{job_id}/mp3", headers=user.headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "audio/mpeg"
        target.write_bytes(resp.read())
    assert probe_codec(target) == "mp3"
    assert abs(probe_duration(target) - probe_duration(video)) < 0.15
    # the email's link works on its own: signed for this job, no login needed
    link = next(line.strip() for line in text.splitlines() if f"/jobs/{job_id}/mp3?link=" in line)
    by_link = http.get(link)
    assert by_link.status_code == 200 and by_link.content == target.read_bytes()


def test_video_without_audio_fails_and_the_email_says_why(http: httpx.Client, urls: dict[str, str]) -> None:
    user = User(http, urls["auth"])
    video = sample_video(seconds=3, audio=False)
    job_id = upload(http, urls["gateway"], user, video)

    job = wait_until_done(http, urls["gateway"], user, job_id)
    assert job["phase"] == "Failed", job
    assert "audio" in job["message"].lower()

    _, mail = mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    assert "audio" in mailbox.text_of(mail).lower()
    resp = http.get(f"{urls['gateway']}/jobs/{job_id}/mp3", headers=user.headers)
    assert resp.status_code in (404, 409)  # no MP3 to download, said clearly


def test_a_tagged_m4a_with_cover_art_arrives_named_typed_and_mailed_as_an_m4a(
    http: httpx.Client, urls: dict[str, str], tmp_path: Path
) -> None:
    from mutagen.mp4 import MP4

    user = User(http, urls["auth"])
    video = sample_video(seconds=10)
    options = {"format": "m4a", "title": "Épisode 12", "artist": "Zoë", "coverArt": "auto", "loudness": "on"}
    job_id = upload(http, urls["gateway"], user, video, **options)

    job = wait_until_done(http, urls["gateway"], user, job_id)
    assert job["phase"] == "Succeeded", job
    assert (job["audioFormat"], job["audioCopied"]) == ("m4a", False)  # loudness needs new samples
    assert job["inputLoudness"] is not None and "Re-encoded, not copied" in job["message"]

    _, mail = mailbox.wait_for(Path(urls["mail"]), user.email, job_id)
    assert mail["Subject"].startswith("Your M4A is ready")
    target = tmp_path / "out.m4a"
    with http.stream("GET", f"{urls['gateway']}/jobs/{job_id}/mp3", headers=user.headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "audio/mp4"
        assert resp.headers["content-disposition"].endswith('.m4a"')
        target.write_bytes(resp.read())
    assert probe_codec(target) == "aac"
    tags = MP4(target).tags
    assert tags is not None
    assert (tags["\xa9nam"], tags["\xa9ART"]) == (["Épisode 12"], ["Zoë"])
    assert len(tags["covr"]) == 1  # the cover art, from the video
