"""Sample videos made with ffmpeg's lavfi sources, for the demo, the tests and the benchmarks.

Realistic enough for audio work: a test-pattern video track and stereo audio of tones plus
noise, AAC 128k, in an MP4. Cached by parameters, since encoding costs seconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from devstack.config import Config


def sample_video(
    seconds: float = 30,
    size: str = "640x360",
    audio: bool = True,
    faststart: bool = True,
    folder: Path | None = None,
) -> Path:
    """Path of an MP4 with these properties, made on first use."""
    folder = folder or Config.from_env().cache / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(repr((seconds, size, audio, faststart, 1)).encode()).hexdigest()[:10]
    name = f"sample-{seconds:g}s-{size}-{'av' if audio else 'v'}{'-fs' if faststart else ''}-{key}.mp4"
    path = folder / name
    if path.exists():
        return path
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25:duration={seconds}",
    ]
    if audio:
        tones = (
            "0.35*sin(2*PI*440*t)+0.15*sin(2*PI*1250*t)+0.08*(random(0)-0.5)"
            "|0.35*sin(2*PI*660*t)+0.15*sin(2*PI*1875*t)+0.08*(random(1)-0.5)"
        )
        argv += [
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc='{tones}':s=44100:d={seconds}",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
        ]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", str(seconds)]
    if faststart:
        argv += ["-movflags", "+faststart"]
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.mp4")  # parallel test workers may race
    subprocess.run([*argv, str(tmp)], check=True)
    tmp.rename(path)
    return path


def probe_duration(path: Path, stream: str = "a:0") -> float:
    """Duration in seconds of one stream (default: the first audio stream), by ffprobe."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "stream=duration",
            "-of",
            "default=nw=1:nk=1",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return float(out.splitlines()[0])


def probe_codec(path: Path, stream: str = "a:0") -> str:
    return subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "stream=codec_name",
            "-of",
            "default=nw=1:nk=1",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
