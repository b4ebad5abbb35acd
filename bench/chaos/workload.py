"""What the soak asks of the system: N uploads of mixed inputs from several users, some of them
cancelled while they run, and each job followed to its end."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.chaos.client import User
from devstack.config import Config
from devstack.samples import probe_duration, sample_video

TERMINAL = ("Succeeded", "Failed", "Cancelled")
CANCEL_BELOW = 50  # percent: a cancellation is tried only on a Running job below this progress
UPLOADS_PER_USER = 4  # under the gateway's 5 conversions in progress per user
POLL_SECONDS = 0.4


@dataclasses.dataclass(frozen=True)
class Input:
    """One kind of video the soak uploads, and what its conversion must give."""

    kind: str  # good, no-audio, moov-at-end, truncated, long
    video: Path
    audio_seconds: float | None  # the input's audio as ffprobe reads it; None: no audio track
    options: dict[str, str]  # form fields of POST /jobs

    def expected_seconds(self) -> float | None:
        """The MP3's duration the options imply (trimStart/trimEnd cut the audio)."""
        if self.audio_seconds is None:
            return None
        end = min(float(self.options.get("trimEnd", self.audio_seconds)), self.audio_seconds)
        return end - float(self.options.get("trimStart", 0))


@dataclasses.dataclass
class Submission:
    """One upload and what became of it, as the soak's client saw it."""

    index: int
    user: User
    input: Input
    cancel: bool  # meant to be cancelled midway
    at: float = 0.0  # seconds after the soak started that the upload begins
    status: int | None = None  # the upload's final answer (None: none came)
    job_id: str | None = None
    cancelled_at: float | None = None  # DELETE answered 204 while Running below CANCEL_BELOW
    cancel_missed: str = ""  # why a cancellation meant for it did not happen
    phase: str | None = None  # the last phase seen by GET /jobs/{id}
    reason: str | None = None
    progress_seen: list[int] = dataclasses.field(default_factory=list)


def inputs(short: bool) -> list[Input]:
    """The five kinds, made (and cached) with ffmpeg's lavfi sources like every sample."""
    folder = Config.from_env().cache / "samples"
    good = sample_video(seconds=8, size="320x240")
    moov_at_end = sample_video(seconds=8, size="320x240", faststart=False)
    long = sample_video(seconds=240 if short else 600, size="160x120")
    made = [
        Input("good", good, probe_duration(good), {"bitrate": "128k"}),
        Input("good", good, probe_duration(good), {"bitrate": "96k", "trimStart": "1", "trimEnd": "5"}),
        Input("no-audio", sample_video(seconds=5, size="320x240", audio=False), None, {}),
        Input("moov-at-end", moov_at_end, probe_duration(moov_at_end), {}),
        Input("truncated", _truncated(moov_at_end, folder), probe_duration(moov_at_end), {}),
        Input("long", long, probe_duration(long), {"bitrate": "64k"}),
    ]
    return made


def _truncated(video: Path, folder: Path) -> Path:
    """The first 60% of a moov-at-end MP4: an upload cut off before its index arrived."""
    path = folder / f"{video.stem}-truncated60.mp4"
    if not path.exists():
        data = video.read_bytes()
        path.write_bytes(data[: len(data) * 6 // 10])
    return path


def plan(
    n: int, users: list[User], kinds: list[Input], rng: random.Random, spread: float
) -> list[Submission]:
    """``n`` uploads over the first ``spread`` seconds (so faults meet jobs at every stage): every
    kind at least once when n allows, users round-robin, about one in eight (long inputs: they run
    long enough to be caught midway) meant to be cancelled."""
    chosen = [kinds[i % len(kinds)] for i in range(n)]
    rng.shuffle(chosen)
    starts = sorted(round(rng.uniform(0, spread), 1) for _ in range(n))
    out = [Submission(i, users[i % len(users)], chosen[i], cancel=False, at=starts[i]) for i in range(n)]
    longs = [s for s in out if s.input.kind == "long"]
    for sub in longs[: max(1, min(len(longs) - 1, n // 8))]:  # one long job at least runs to its end
        sub.cancel = True
    return out


def submit_all(
    subs: list[Submission], t0: float, stop: threading.Event, on_done: Callable[[Submission], None]
) -> None:
    """Each user's uploads one after another (the gateway caps conversions in progress per user),
    the users side by side; each accepted job is followed (and maybe cancelled) in a thread of its
    own until it ends, and handed to ``on_done``. Returns once every upload was answered."""
    by_user: dict[str, list[Submission]] = {}
    for sub in subs:
        by_user.setdefault(sub.user.email, []).append(sub)
    sessions = [
        threading.Thread(target=_user_session, args=(queue, t0, stop, on_done), daemon=True)
        for queue in by_user.values()
    ]
    for thread in sessions:
        thread.start()
    for thread in sessions:
        thread.join()


def _user_session(
    queue: list[Submission], t0: float, stop: threading.Event, on_done: Callable[[Submission], None]
) -> None:
    for sub in queue:
        if stop.wait(max(0.0, t0 + sub.at - time.monotonic())):
            on_done(sub)
            continue
        resp = sub.user.upload(sub.input.video, sub.input.options)
        sub.status = resp.status_code if resp is not None else None
        if resp is not None and resp.status_code == 202:
            sub.job_id = str(resp.json()["id"])
            threading.Thread(target=_follow, args=(sub, stop, on_done), daemon=True).start()
        else:
            on_done(sub)


def _follow(sub: Submission, stop: threading.Event, on_done: Callable[[Submission], None]) -> None:
    """Poll the job until it ends (or the soak gives up); cancel it midway if it is meant to be."""
    assert sub.job_id is not None
    while not stop.is_set():
        resp = sub.user.job(sub.job_id)
        if resp is not None and resp.status_code == 404 and sub.cancelled_at:
            sub.phase = "Cancelled"  # DELETE removes the job: gone is its end
            break
        if resp is not None and resp.status_code == 200:
            job = resp.json()
            sub.phase, sub.reason = job.get("phase"), job.get("reason")
            sub.progress_seen.append(int(job.get("progress") or 0))
            if sub.cancel and not sub.cancelled_at:
                _maybe_cancel(sub, job)
            if sub.phase in TERMINAL:
                if sub.cancel and not sub.cancelled_at and not sub.cancel_missed:
                    sub.cancel_missed = f"ended {sub.phase} before it was seen Running below {CANCEL_BELOW}%"
                break
        time.sleep(POLL_SECONDS)
    on_done(sub)


def _maybe_cancel(sub: Submission, job: dict[str, object]) -> None:
    progress = int(str(job.get("progress") or 0))
    if job.get("phase") != "Running" or progress >= CANCEL_BELOW:
        return
    assert sub.job_id is not None
    resp = sub.user.delete(sub.job_id)
    if resp is not None and resp.status_code == 204:
        sub.cancelled_at = time.time()
    else:
        sub.cancel_missed = f"DELETE answered {resp.status_code if resp is not None else 'nothing'}"
