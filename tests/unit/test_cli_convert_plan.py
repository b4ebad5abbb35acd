"""convert's plan: every video readable and every MP3 writable before anything is uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from mp4mp3_cli.convert import Outcome, exit_code, failure, mp3_path, plan
from mp4mp3_cli.errors import CliError, ExitCode


def video(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"\x00\x00\x00\x18ftypisom")
    return path


def code_of(call: object) -> ExitCode:
    with pytest.raises(CliError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


def test_mp3_goes_beside_the_video_by_default(tmp_path: Path) -> None:
    a = video(tmp_path, "a.mp4")
    assert [p.output for p in plan([a], None, force=False)] == [tmp_path / "a.mp3"]


def test_output_may_be_a_file_or_a_folder(tmp_path: Path) -> None:
    a, out = video(tmp_path, "a.mp4"), tmp_path / "out"
    out.mkdir()
    assert mp3_path(a, out) == out / "a.mp3"
    assert mp3_path(a, tmp_path / "song.mp3") == tmp_path / "song.mp3"
    assert [p.output for p in plan([a], tmp_path / "song.mp3", force=False)] == [tmp_path / "song.mp3"]


def test_missing_video_is_a_local_file_error_naming_it(tmp_path: Path) -> None:
    a = video(tmp_path, "a.mp4")
    with pytest.raises(CliError) as caught:
        plan([a, tmp_path / "typo.mp4"], None, force=False)
    assert caught.value.code == ExitCode.LOCAL_FILE
    assert caught.value.message == f"{tmp_path / 'typo.mp4'}: no such file."


def test_a_folder_is_not_a_video(tmp_path: Path) -> None:
    assert code_of(lambda: plan([tmp_path], None, force=False)) == ExitCode.LOCAL_FILE


def test_existing_mp3_needs_force(tmp_path: Path) -> None:
    a = video(tmp_path, "a.mp4")
    (tmp_path / "a.mp3").write_bytes(b"old")
    assert code_of(lambda: plan([a], None, force=False)) == ExitCode.LOCAL_FILE
    assert plan([a], None, force=True)[0].output == tmp_path / "a.mp3"


def test_several_videos_need_a_folder(tmp_path: Path) -> None:
    a, b = video(tmp_path, "a.mp4"), video(tmp_path, "b.mp4")
    assert code_of(lambda: plan([a, b], tmp_path / "one.mp3", force=False)) == ExitCode.USAGE


def test_two_videos_with_one_name_would_collide(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    a, b = video(tmp_path / "x", "clip.mp4"), video(tmp_path / "y", "clip.mp4")
    assert code_of(lambda: plan([a, b], out, force=True)) == ExitCode.USAGE


def test_missing_output_folder_is_reported_before_upload(tmp_path: Path) -> None:
    a = video(tmp_path, "a.mp4")
    assert code_of(lambda: plan([a], tmp_path / "nope" / "a.mp3", force=False)) == ExitCode.LOCAL_FILE


def test_no_wait_checks_only_the_videos_and_refuses_output(tmp_path: Path) -> None:
    a = video(tmp_path, "a.mp4")
    (tmp_path / "a.mp3").write_bytes(b"old")
    assert len(plan([a], None, force=False, wait=False)) == 1
    assert code_of(lambda: plan([a], tmp_path / "x.mp3", force=False, wait=False)) == ExitCode.USAGE


def test_exit_code_is_the_first_failure_in_command_line_order() -> None:
    ok = Outcome(Path("a.mp4"), Path("a.mp3"), mp3_bytes=1)
    refused = Outcome(Path("b.mp4"), None, error=CliError(ExitCode.REFUSED, "no"))
    failed = Outcome(Path("c.mp4"), None, error=CliError(ExitCode.JOB_FAILED, "no"))
    assert exit_code([ok]) == ExitCode.OK
    assert exit_code([ok, refused, failed]) == ExitCode.REFUSED
    assert exit_code([failed, refused]) == ExitCode.JOB_FAILED


def test_failed_job_says_why() -> None:
    job = {"id": "cj-1", "phase": "Failed", "reason": "NoAudioStream", "message": "The video has no audio."}
    error = failure(job)
    assert error.code == ExitCode.JOB_FAILED
    assert error.message == "The conversion failed: The video has no audio. (NoAudioStream)"
    assert failure({"id": "cj-1", "phase": "Cancelled"}).message == "Job cj-1 was cancelled."
