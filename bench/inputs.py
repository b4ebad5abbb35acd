"""The benchmarks' input files, generated with ffmpeg and cached by parameters under the cache dir.

Videos come from ``devstack.samples.sample_video`` (lavfi test pattern, H.264; stereo AAC 128k of
tones plus noise); the WAV for the LAME contender is that video's audio, decoded once.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.config import Config
from devstack.samples import probe_duration, sample_video

READ_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Input:
    label: str  # e.g. "600s-1080p"
    seconds: float
    size: str  # WxH of the video track

    @property
    def video(self) -> Path:
        return sample_video(seconds=self.seconds, size=self.size)

    @property
    def audio_seconds(self) -> float:
        return probe_duration(self.video)

    @property
    def wav(self) -> Path:
        """The video's audio as 16-bit PCM WAV (what LAME reads), decoded on first use."""
        video = self.video
        path = cache_dir() / f"{video.stem}.wav"
        if not path.exists():
            tmp = path.with_suffix(".tmp.wav")
            argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-vn", "-c:a", "pcm_s16le"]
            subprocess.run([*argv, str(tmp)], check=True)
            tmp.rename(path)
        return path


def video_input(seconds: float, height: int) -> Input:
    width = {240: 320, 360: 640, 720: 1280, 1080: 1920}[height]
    return Input(f"{seconds:g}s-{height}p", seconds, f"{width}x{height}")


def cache_dir() -> Path:
    path = Config.from_env().cache / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def warm(path: Path) -> None:
    """Read a file once so every contender finds it in the page cache, not just the first."""
    with path.open("rb") as fh:
        while fh.read(READ_BLOCK):
            pass
