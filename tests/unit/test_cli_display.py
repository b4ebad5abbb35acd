"""What the CLI draws: a bar per file through its stages, the jobs table, sizes."""

from __future__ import annotations

import io

from rich.console import Console

from mp4mp3_cli.display import human_bytes, jobs_table
from mp4mp3_cli.progress import Bars


def terminal() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=140, color_system=None), buf


def last_frame(buf: io.StringIO) -> str:
    return buf.getvalue().rsplit("\x1b[2K", 1)[-1]


def test_a_bar_goes_through_upload_convert_download_and_keeps_its_clock() -> None:
    console, buf = terminal()
    bars = Bars(console)
    bar = bars.file("holiday.mp4")
    bar.uploading(5_000_000)
    bar.advance(5_000_000)
    bar.following({"phase": "Running", "progress": 40, "message": "Converting."})
    bar.downloading(1_400_000)
    bar.advance(1_400_000)
    bar.done("/tmp/holiday.mp3 (1.4 MB)")
    bars.close()
    frame = last_frame(buf)
    assert frame.startswith("holiday.mp4")
    assert "done" in frame and "100%" in frame and "/tmp/holiday.mp3 (1.4 MB)" in frame
    assert "0:00:00" in frame  # the clock started at the upload and survived the stage resets


def test_jobs_table_shows_each_job() -> None:
    console, buf = terminal()
    job = {
        "id": "cj-6743c0ffee0123456789abcd",
        "filename": "holiday.mp4",
        "phase": "Failed",
        "progress": 0,
        "created": "2026-11-24T10:15:00Z",
        "message": "The video has no audio track to convert.",
    }
    console.print(jobs_table([job]))
    text = buf.getvalue()
    for value in ("cj-6743c0ffee0123456789abcd", "holiday.mp4", "Failed", "0%", "no audio track"):
        assert value in text


def test_human_sizes() -> None:
    assert [human_bytes(n) for n in (None, 512, 81_231, 14_698_560, 5 * 10**9)] == [
        "?",
        "512 B",
        "81.2 kB",
        "14.7 MB",
        "5.0 GB",
    ]


def test_status_names_the_format_and_says_copied_and_measured_loudness() -> None:
    from mp4mp3_cli.display import job_details

    console, buf = terminal()
    job = {"id": "cj-1", "phase": "Succeeded", "audioFormat": "m4a", "mp3Size": 2_000_000}
    console.print(job_details({**job, "audioCopied": True, "inputLoudness": -23.44}))
    out = buf.getvalue()
    assert "m4a" in out and "2.0 MB" in out
    assert "the video's AAC, without re-encoding" in out and "-23.4 LUFS measured" in out
