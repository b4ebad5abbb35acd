"""MPEG-1 Layer III frames on real LAME output (ffmpeg's libmp3lame, made here, two seconds):
parsed, re-packed and given a new Xing/LAME header, then read back by ffmpeg, ffprobe and mutagen."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
from mutagen.mp3 import MP3, BitrateMode, MPEGInfo

from converter_job import mp3frames
from converter_job.mp3frames import SAMPLES_PER_FRAME, Header

RATE = 44100
SAMPLES = 2 * RATE  # the tone's length: what a gapless decode must give back


def _encode(path: Path, *options: str, channels: int = 2, tags: bool = False) -> bytes:
    tone = "0.4*sin(2*PI*440*t)+0.05*(random(0)-0.5)" + ("|0.3*sin(2*PI*660*t)" if channels == 2 else "")
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", f"aevalsrc='{tone}':s={RATE}:d=2", "-c:a", "libmp3lame", *options]
    argv += ["-write_id3v1", "0"]
    argv += ["-metadata", "title=Töne"] if tags else ["-id3v2_version", "0"]
    subprocess.run([*argv, str(path)], check=True)
    return path.read_bytes()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mp3frames")


@pytest.fixture(scope="module")
def cbr(folder: Path) -> bytes:
    return _encode(folder / "cbr.mp3", "-b:a", "192k")


@pytest.fixture(scope="module")
def vbr(folder: Path) -> bytes:
    return _encode(folder / "vbr.mp3", "-q:a", "2")


def _decode(path: Path) -> bytes:
    argv = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-c:a", "pcm_s16le", "-"]
    return subprocess.run(argv, capture_output=True, check=True).stdout


def _rewritten(data: bytes, path: Path) -> mp3frames.Stream:
    """``data`` parsed, re-packed and given a new header frame, written to ``path``."""
    stream = mp3frames.parse(data)
    assert stream.tag is not None
    audio = mp3frames.pack(stream.frames)
    path.write_bytes(
        mp3frames.info_frame(audio, stream.tag.delay, stream.tag.padding, stream.tag) + b"".join(audio)
    )
    return stream


@pytest.mark.parametrize("channels", [1, 2])
def test_headers_and_side_info_round_trip(folder: Path, channels: int) -> None:
    data = _encode(folder / f"vbr{channels}.mp3", "-q:a", "4", channels=channels)
    at, sizes = 0, 0
    while at < len(data):
        header = Header.read(data, at)
        assert header is not None and header.rate == RATE and header.channels == channels
        raw = data[at + 4 : at + header.main_offset]
        side = mp3frames.read_side(raw, header)
        assert mp3frames.write_side(side, header) == raw
        assert mp3frames.main_bits(raw, channels) == side.main_bits
        assert side.main_data_begin <= mp3frames.MAX_BACK
        at, sizes = at + header.size, sizes + header.size
    assert sizes == len(data)  # frame sizes from the headers tile the file exactly


def test_a_repacked_stream_decodes_bit_identically(folder: Path, cbr: bytes, vbr: bytes) -> None:
    for name, data in (("cbr", cbr), ("vbr", vbr)):
        original, repacked = folder / f"{name}.mp3", folder / f"{name}-repacked.mp3"
        stream = _rewritten(data, repacked)

        assert len(mp3frames.parse(repacked.read_bytes()).frames) == len(stream.frames)
        pcm = _decode(repacked)
        assert len(pcm) == 4 * SAMPLES, name  # s16 stereo: the header's delay and padding trim exactly
        assert hashlib.sha256(pcm).digest() == hashlib.sha256(_decode(original)).digest(), name


def test_written_header_is_read_by_mutagen_and_ffprobe(folder: Path, cbr: bytes, vbr: bytes) -> None:
    for name, data, kind in (("cbr", cbr, b"Info"), ("vbr", vbr, b"Xing")):
        path = folder / f"{name}-header.mp3"
        stream = _rewritten(data, path)
        assert stream.tag is not None
        written = path.read_bytes()
        tag = mp3frames.read_tag(written, 0, Header(written[:4]))
        frames = len(stream.frames)

        assert kind in written[:64]
        assert tag is not None and tag.frames == frames
        assert (tag.delay, tag.padding) == (stream.tag.delay, stream.tag.padding)
        assert frames * SAMPLES_PER_FRAME - tag.delay - tag.padding == SAMPLES
        info = cast(MPEGInfo, MP3(path).info)  # typed as None in mutagen
        assert info.length == pytest.approx(SAMPLES / RATE, abs=0.001)
        assert info.encoder_info.startswith("LAME")
        assert info.bitrate_mode == (BitrateMode.CBR if name == "cbr" else BitrateMode.VBR)
        # ffprobe 5.1 reports the Xing frame count as the duration (it trims delay and padding
        # only when decoding) and the delay as the start time, for ffmpeg's own files as for ours
        probe = json.loads(
            subprocess.run(
                ["ffprobe", "-v", "error", "-of", "json", "-show_streams", str(path)],
                capture_output=True,
                check=True,
                text=True,
            ).stdout
        )["streams"][0]
        assert float(probe["duration"]) == pytest.approx(frames * SAMPLES_PER_FRAME / RATE, abs=0.001)
        assert float(probe["start_time"]) == pytest.approx((tag.delay + 529) / RATE, abs=0.001)


def test_header_crcs_are_the_ones_ffmpeg_writes(cbr: bytes) -> None:
    stream = mp3frames.parse(cbr)
    assert stream.tag is not None
    first = Header.read(cbr, 0)
    assert first is not None
    lame = 4 + first.side_size + mp3frames.XING_SIZE
    music_crc, tag_crc = cbr[lame + 32 : lame + 34], cbr[lame + 34 : lame + 36]

    # ffmpeg's music CRC covers its frames as LAME laid them out; ours, as pack lays them out
    assert int.from_bytes(music_crc, "big") == mp3frames.crc16(cbr[first.size :])
    assert int.from_bytes(tag_crc, "big") == mp3frames.crc16(cbr[: lame + 34])
    audio = mp3frames.pack(stream.frames)
    header = mp3frames.info_frame(audio, stream.tag.delay, stream.tag.padding, stream.tag)
    assert int.from_bytes(header[lame + 32 : lame + 34], "big") == mp3frames.crc16(b"".join(audio))
    assert int.from_bytes(header[lame + 34 : lame + 36], "big") == mp3frames.crc16(header[: lame + 34])


def test_a_frame_whose_data_does_not_fit_gets_a_higher_bitrate(folder: Path, cbr: bytes) -> None:
    stream = mp3frames.parse(cbr)
    squeezed = [replace(f, header=f.header.with_bitrate(1)) for f in stream.frames[:20]]  # 32 kbit/s

    audio = mp3frames.pack(squeezed)

    again = mp3frames.parse(b"".join(audio))
    assert [f.main for f in again.frames] == [f.main for f in squeezed]
    raised = [f.header.bitrate_index for f in again.frames]
    assert max(raised) > 1 and min(raised) >= 1
    # each raised frame is at the smallest bitrate where its data fits
    for frame, index in zip(again.frames, raised, strict=True):
        if index > 1:
            smaller = frame.header.with_bitrate(index - 1)
            assert len(frame.main) > frame.main_data_begin + smaller.main_size
    path = folder / "raised.mp3"
    path.write_bytes(mp3frames.info_frame(audio, 576, 0) + b"".join(audio))
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert errors.stderr == ""
    assert b"Xing" in path.read_bytes()[:64]


def test_a_leading_id3v2_tag_is_skipped(folder: Path, cbr: bytes) -> None:
    tagged = _encode(folder / "tagged.mp3", "-b:a", "192k", tags=True)
    assert tagged[:3] == b"ID3"

    stream, plain = mp3frames.parse(tagged), mp3frames.parse(cbr)

    assert stream.tag is not None and plain.tag is not None
    assert (stream.tag.delay, stream.tag.padding) == (plain.tag.delay, plain.tag.padding)
    assert [f.main for f in stream.frames] == [f.main for f in plain.frames]
