"""Helpers for the converter's tests: test videos (chapters, tags, silent ends) made with ffmpeg,
the converter run as a host process on one of them, and readers of what it made."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gridfs
import pymongo
from bson import ObjectId

from common.resources import CHUNK_SIZE

# the chaptered video: 1 s of silence, 6 s of tone, 1 s of silence; chapters at 0-3 and 3-8 s
CHAPTERS = ((0.0, 3.0, "Intro é"), (3.0, 8.0, "Hauptteil 章"))
FFMETADATA = ";FFMETADATA1\ntitle=Vidéo du cours\nartist=Ünïversité\n" + "".join(
    f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={int(a * 1000)}\nEND={int(b * 1000)}\ntitle={t}\n"
    for a, b, t in CHAPTERS
)


def make_chaptered_video(path: Path) -> Path:
    """8 s H.264/AAC MP4 with QuickTime chapters and tags, tone only between 1 s and 7 s (-30 dBFS
    peak-ish: quiet, so loudness normalisation has work to do)."""
    plain = path.with_suffix(".plain.mp4")
    tone = "if(between(t,1,7),0.05*sin(2*PI*440*t),0)"
    sources = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=8"]
    sources += ["-f", "lavfi", "-i", f"aevalsrc='{tone}':s=44100:d=8"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"]
    _ffmpeg([*sources, *codecs], plain)
    meta = path.with_suffix(".ffmeta")
    meta.write_text(FFMETADATA, encoding="utf-8")
    _ffmpeg(
        ["-i", str(plain), "-i", str(meta), "-map_metadata", "1", "-map_chapters", "1", "-c", "copy"], path
    )
    plain.unlink()
    return path


def make_long_video(path: Path, seconds: int) -> Path:
    """A long AAC-audio MP4 with a tiny picture: the copy path's case (a lecture)."""
    sources = ["-f", "lavfi", "-i", f"testsrc=size=96x64:rate=2:duration={seconds}"]
    sources += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    _ffmpeg([*sources, *codecs], path)
    return path


def _ffmpeg(args: list[str], out: Path) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args, str(out)], check=True)


def ffprobe(path: Path, *extra: str) -> dict[str, Any]:
    argv = [
        "ffprobe",
        "-v",
        "error",
        "-of",
        "json",
        "-show_format",
        "-show_streams",
        "-show_chapters",
        *extra,
    ]
    return json.loads(subprocess.run([*argv, str(path)], capture_output=True, text=True, check=True).stdout)


def integrated_loudness(path: Path) -> float:
    """EBU R128 integrated loudness (LUFS) of a file, by ffmpeg's ebur128 filter."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            "ebur128",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = done.stderr[done.stderr.rindex("Integrated loudness:") :]
    return float(summary.split("I:", 1)[1].split("LUFS", 1)[0])


def audio_md5(path: Path) -> str:
    """MD5 of the audio packets as stored (no decoding): equal for a stream copied unchanged."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class Made:
    path: Path
    report: dict[str, Any]  # the termination message


class ConverterRun:
    """``python -m converter_job`` on a stored video, as the converter's Job runs it (no progress
    patches: there is no ConversionJob), then the file it stored, fetched back."""

    def __init__(self, mongo_uri: str, folder: Path, env: dict[str, str]) -> None:
        self.mongo_uri, self.folder = mongo_uri, folder
        self.env = {k: v for k, v in env.items() if not k.startswith(("CONVERTER_", "KUBERNETES_"))}
        self.client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
        self.db = self.client.get_default_database()
        self.job_uids: dict[str, str] = {}  # a ConversionJob's uid, the same for all its pods

    def parts(self, video: Path, output: dict[str, Any], count: int) -> list[dict[str, Any]]:
        """Run the ``count`` pods of a long video's Indexed Job one after another (the last to
        store its part joins them); their termination messages, in index order."""
        source, name = self._store(video)
        run, reports = str(uuid.uuid4()), []
        for index in range(count):
            env = {
                "CONVERTER_SEGMENTS": str(count),
                "JOB_COMPLETION_INDEX": str(index),
                "CONVERTER_RUN_UID": run,
            }
            report, code, stderr = self._run(source, name, output, 300, env, f"{name}-{index}")
            assert code == 0, (report, stderr[-2000:])
            reports.append(report)
        return reports

    def _store(self, video: Path) -> tuple[dict[str, Any], str]:
        data = video.read_bytes()
        bucket = gridfs.GridFSBucket(self.db, bucket_name="videos", chunk_size_bytes=CHUNK_SIZE)
        video_id = bucket.upload_from_stream(video.name, data)
        source = {"videoId": str(video_id), "filename": video.name, "size": len(data)}
        source["sha256"] = hashlib.sha256(data).hexdigest()
        return source, f"cj-{video_id}"

    def _run(
        self,
        source: dict[str, Any],
        name: str,
        output: dict[str, Any],
        timeout: float,
        extra: dict[str, str],
        key: str,
    ) -> tuple[dict[str, Any], int, str]:
        message = self.folder / f"{key}.termination"
        env = {
            **self.env,
            "CONVERTER_JOB_NAME": name,
            "CONVERTER_NAMESPACE": "converter-tests",
            "CONVERTER_JOB_UID": self.job_uids.setdefault(name, str(uuid.uuid4())),
            "CONVERTER_SPEC": json.dumps({"source": source, "owner": {"userId": "u-1"}, "output": output}),
            "CONVERTER_MONGO_URI": self.mongo_uri,
            "CONVERTER_WORK_DIR": str(self.folder),
            "CONVERTER_TERMINATION_LOG": str(message),
            "CONVERTER_REPORT_PROGRESS": "false",
            **extra,
        }
        done = subprocess.run(
            [sys.executable, "-m", "converter_job"], env=env, capture_output=True, text=True, timeout=timeout
        )
        return json.loads(message.read_text()), done.returncode, done.stderr

    def __call__(self, video: Path, output: dict[str, Any], timeout: float = 300) -> Made:
        source, name = self._store(video)
        report, code, stderr = self._run(source, name, output, timeout, {}, source["videoId"])
        assert code == 0, (report, stderr[-2000:])
        return self.fetched(report)

    def fetched(self, report: dict[str, Any]) -> Made:
        """The file a converter's report names, fetched back."""
        stored = self.db["mp3s.files"].find_one({"_id": ObjectId(report["mp3Id"])})
        assert stored is not None
        path = self.folder / report["mp3Id"] / stored["filename"]
        path.parent.mkdir()
        out = gridfs.GridFSBucket(self.db, bucket_name="mp3s", chunk_size_bytes=CHUNK_SIZE)
        with path.open("wb") as sink:
            out.download_to_stream(stored["_id"], sink)
        return Made(path, report)
