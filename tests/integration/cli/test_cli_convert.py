"""convert, jobs, status, download and cancel through the devstack's gateway and operator: real
uploads, real conversions checked with ffprobe, and every refusal with its reason and exit code."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.process import wait_until as wait_for
from devstack.samples import probe_codec, probe_duration
from tests.support.cli_harness import Account, Cli

pytestmark = [pytest.mark.devstack, pytest.mark.usefixtures("account")]

MakeVideo = Callable[..., Path]


def test_convert_makes_a_valid_mp3_and_says_where(cli: Cli, videos: MakeVideo, tmp_path: Path) -> None:
    video = videos("holiday.mp4", seconds=6)
    out = tmp_path / "out" / "song.mp3"
    out.parent.mkdir()
    result = cli("convert", str(video), "-o", str(out), "--bitrate", "128k", "--channels", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"holiday.mp4 -> {out} (")
    assert re.search(r", [56]\.\d s of audio, converted in \d+s\)$", result.stdout.strip())
    assert probe_codec(out) == "mp3"
    assert probe_duration(out) == pytest.approx(6, abs=0.3)
    assert not list(out.parent.glob("*.part"))  # the download was renamed into place
    # the stages were reported (stderr is not a terminal here: plain lines)
    for stage in ("holiday.mp4: uploading", "Succeeded 100%", "downloading the MP3", "holiday.mp4: done"):
        assert stage in result.stderr


def test_convert_json_gives_the_job_and_the_path(cli: Cli, videos: MakeVideo) -> None:
    video = videos("clip.mp4", seconds=4)
    result = cli("convert", str(video), "--quality", "4", "--trim-end", "2", "--no-email", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # nothing but the document
    (item,) = json.loads(result.stdout)["results"]
    assert item["ok"] is True
    assert item["mp3"] == str(video.with_suffix(".mp3"))
    assert item["job"]["phase"] == "Succeeded"
    assert item["job"]["options"] == {"quality": 4, "trimEnd": 2.0, "engine": "ffmpeg", "notifyEmail": False}
    assert item["mp3Bytes"] == Path(item["mp3"]).stat().st_size
    assert probe_duration(Path(item["mp3"])) == pytest.approx(2, abs=0.3)


def test_several_videos_convert_at_once(cli: Cli, videos: MakeVideo, tmp_path: Path) -> None:
    first, second = videos("one.mp4", seconds=5), videos("two.mp4", seconds=5)
    out = tmp_path / "mp3s"
    out.mkdir()
    result = cli("convert", str(first), str(second), "-o", str(out))
    assert result.exit_code == 0, result.output
    for name in ("one", "two"):
        assert probe_codec(out / f"{name}.mp3") == "mp3"
        assert f"{name}.mp4 -> {out / name}.mp3 (" in result.stdout
    lines = result.stderr.splitlines()
    first_done = min(i for i, line in enumerate(lines) if ": done:" in line)
    uploads = [
        i for i, line in enumerate(lines) if line.startswith(("one.mp4: uploading", "two.mp4: uploading"))
    ]
    assert len(uploads) == 2 and max(uploads) < first_done  # both were under way before either ended


def test_no_wait_then_status_jobs_and_download(cli: Cli, videos: MakeVideo, tmp_path: Path) -> None:
    video = videos("later.mp4", seconds=5)
    submitted = cli("convert", str(video), "--no-wait", "--json")
    assert submitted.exit_code == 0, submitted.output
    (item,) = json.loads(submitted.stdout)["results"]
    job_id = item["job"]["id"]
    assert item["mp3"] is None and item["job"]["phase"] in ("Pending", "Running")

    fetched = cli("download", job_id, "--wait", "-o", str(tmp_path))
    assert fetched.exit_code == 0, fetched.output
    mp3 = tmp_path / "later.mp3"  # the server's name for it
    assert fetched.stdout.startswith(f"{mp3} (")
    assert probe_codec(mp3) == "mp3"

    again = cli("download", job_id, "-o", str(tmp_path))
    assert again.exit_code == 5
    assert again.stderr == f"Error: {mp3} already exists; pass --force to overwrite it.\n"

    status = cli("status", job_id, "--json")
    assert status.exit_code == 0
    assert json.loads(status.stdout)["phase"] == "Succeeded"
    human = cli("status", job_id)
    assert "Succeeded" in human.stdout
    assert f"mp4mp3 download {job_id}" in human.stdout

    listed = cli("jobs", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)["items"]] == [job_id]
    table = cli("jobs")
    assert table.exit_code == 0
    assert job_id in table.stdout
    assert "later.mp4" in table.stdout


def test_cancel_removes_the_job(cli: Cli, videos: MakeVideo) -> None:
    video = videos("long.mp4", seconds=300, size="160x90")
    submitted = cli("convert", str(video), "--no-wait", "--json")
    job_id = json.loads(submitted.stdout)["results"][0]["job"]["id"]

    early = cli("download", job_id)  # no MP3 yet
    assert early.exit_code == 6
    assert "the MP3 is not ready yet" in early.stderr

    cancelled = cli("cancel", job_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout == f"Cancelled {job_id}; its video and MP3 are removed.\n"
    gone = cli("status", job_id)
    assert gone.exit_code == 7
    assert gone.stderr == f"Error: No job with id {job_id}.\n"
    twice = cli("cancel", job_id, "--json")
    assert twice.exit_code == 7
    assert json.loads(twice.stdout)["results"] == [
        {
            "id": job_id,
            "cancelled": False,
            "error": {"code": 7, "kind": "not_found", "message": f"No job with id {job_id}."},
        }
    ]


def test_video_without_audio_fails_with_exit_1_and_the_reason(cli: Cli, videos: MakeVideo) -> None:
    video = videos("silent.mp4", seconds=3, audio=False)
    result = cli("convert", str(video))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: silent.mp4: The conversion failed: The video has no audio track to convert. (NoAudioStream)"
    )
    assert not video.with_suffix(".mp3").exists()


def test_text_file_named_mp4_is_refused_with_exit_6(cli: Cli, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("These are my notes, not a video at all.\n" * 20)
    result = cli("convert", str(fake))
    assert result.exit_code == 6
    assert result.stderr.splitlines()[-1] == (
        "Error: notes.mp4: The file is not an MP4 video: it does not start with an ISO-BMFF 'ftyp' box."
    )


def test_empty_file_is_refused_with_exit_6(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    result = cli("convert", str(empty), "--json")
    assert result.exit_code == 6
    (item,) = json.loads(result.stdout)["results"]
    assert item["error"] == {"code": 6, "kind": "refused", "message": "The uploaded file is empty."}


def test_too_large_video_is_refused_with_exit_6(
    cli: Cli, account: Account, videos: MakeVideo, small_gateway: str
) -> None:
    login = cli("login", "--email", account.email, "--api", small_gateway, MP4MP3_PASSWORD=account.password)
    assert login.exit_code == 0, login.output
    video = videos("big.mp4", seconds=10, size="640x360")
    assert video.stat().st_size > 1024 * 1024
    result = cli("convert", str(video), "--api", small_gateway)
    assert result.exit_code == 6
    assert result.stderr.splitlines()[-1] == "Error: big.mp4: The video is larger than the limit of 1 MiB."


def test_unknown_job_is_exit_7(cli: Cli) -> None:
    result = cli("status", "cj-000000000000000000000000")
    assert result.exit_code == 7
    assert result.stderr == "Error: No job with id cj-000000000000000000000000.\n"


@pytest.mark.serial  # it races Ctrl-C against a conversion: beside other tests the conversion can win
def test_ctrl_c_stops_the_cli_and_names_the_jobs_that_go_on(
    cli: Cli, videos: MakeVideo, tmp_path: Path
) -> None:
    video = videos("long.mp4", seconds=900, size="160x90")  # converts in about 17 s: the signal comes first
    script = Path(sys.executable).with_name("mp4mp3")  # the installed console script
    env = {**os.environ, **{k: v for k, v in cli.env.items() if v is not None}}
    env.pop("MP4MP3_PASSWORD", None)
    proc = subprocess.Popen(
        [str(script), "convert", str(video)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: a run started in the background (`cmd &` in a script, as CI may) ignores
        # SIGINT, and a Python started so never turns Ctrl-C into KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        job_line = wait_for(
            lambda: next((line for line in lines if line.startswith("long.mp4: job cj-")), None),
            120,
            "the upload to be accepted",
        )
        job_id = job_line.split()[2]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        reader.join(timeout=10)
        assert lines[-1].rstrip("\n") == (
            f"Error: long.mp4: Interrupted. Job {job_id} goes on: "
            f"`mp4mp3 download {job_id} --wait` fetches it later."
        )
        assert "Traceback" not in "".join(lines)
        assert not video.with_suffix(".mp3").exists()
        assert not list(tmp_path.glob("*.part"))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert cli("cancel", job_id).exit_code == 0  # the job did go on; stop it
