"""Segment-parallel MP3 encoding (pure but for ``join``'s file reads and write): split a span into
contiguous, frame-aligned segments that separate processes encode, and join their encodes into
one MP3 that decodes like a single-pass encode and plays gaplessly.

Why it lines up: LAME's encoder delay is the same in every encode, so frame j of an encode that
starts at a whole frame's position s in the span is frame s + j of a single-pass encode. Each
segment but the first starts its encode ``overlap`` frames early (LAME's psychoacoustic model and
reservoir, the MDCT's previous granule and the decoders before it warm up there), and each but
the last encodes ``LOOKAHEAD_FRAMES`` past its end (LAME looks ahead; its last frames are
flushed). ``join`` keeps each segment's own frames, re-packs the bit reservoir across the joins
(mp3frames.pack) and writes one Xing/LAME header: the first encode's delay, the last's padding.

ffmpeg 5.1's ``-ss`` before ``-i`` on an MP4's AAC, when transcoding, is sample-accurate and
decodes the first samples after the seek as a full decode does (measured: within 1.6e-5 of full
scale, float rounding, from the first sample): there is no AAC priming to cover, the overlap is
for LAME (and the resampler, when there is one) alone. A resampled encode must also start on a
whole source sample, or its stream is shifted by a fraction of a sample (``grid``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from converter_job import mp3frames
from converter_job.analysis import span_options
from converter_job.convert import Extras, audio_options
from converter_job.probe import Window
from converter_job.spec import Output

MPEG1_RATES = (32000, 44100, 48000)  # the rates of MPEG-1 Layer III (1152-sample frames)
OVERLAP_FRAMES = 8  # frames encoded before a segment's first, then dropped (~0.2 s)
LOOKAHEAD_FRAMES = 2  # frames encoded past a segment's last, then dropped
FRAME = mp3frames.SAMPLES_PER_FRAME


@dataclass(frozen=True)
class Segment:
    index: int
    count: int
    start: float  # seconds into the span where this encode starts, overlap included
    duration: float | None  # seconds to encode (None: to the span's end)
    skip_frames: int  # frames at the start of this encode that belong to the previous segment
    frames: int | None  # frames of this encode to keep after skip_frames (None: all, for the last)


@dataclass(frozen=True)
class Joined:
    frames: int  # audio frames (the header frame not counted)
    samples: int  # per channel, after the decoder trims the delay and padding
    bytes: int  # the whole file


def supported(output: Output, rate: int | None) -> bool:
    """Whether this output can be encoded in segments: an MP3 at an MPEG-1 rate (the output's:
    the asked one, else the source's ``rate``), CBR at an MPEG-1 bitrate or VBR. Loudness and
    silence trimming are the caller's to check (their filters are not applied here)."""
    if output.format != "mp3":
        return False
    return (output.sample_rate or rate) in MPEG1_RATES and _rate_ok(output)


def plan(
    span: Window,
    rate: int,
    count: int,
    overlap_frames: int = OVERLAP_FRAMES,
    source_rate: int | None = None,
) -> list[Segment]:
    """``count`` segments of (nearly) equal whole frames at ``rate`` (the output's); fewer when the
    span is too short for each to hold the overlap and the look-ahead, one when its length is
    unknown. When the output is resampled from ``source_rate``, every encode starts on a frame that
    is also a whole source sample (see ``grid``)."""
    total = int(span.expected * rate) // FRAME if span.expected is not None else 0
    step = grid(rate, source_rate)
    overlap = -(-overlap_frames // step) * step
    count = max(1, min(count, total // (max(step, overlap + LOOKAHEAD_FRAMES) + step)))
    if count == 1:
        return [Segment(0, 1, 0.0, None, 0, None)]
    bounds = [round(i * total / count / step) * step for i in range(count)] + [total]
    return [_segment(i, count, bounds[i], bounds[i + 1], rate, overlap) for i in range(count)]


def grid(rate: int, source_rate: int | None) -> int:
    """Frames between positions that are whole samples at both rates (1 without resampling): an
    encode that seeks between source samples gets its resampled stream shifted by a fraction of a
    sample against the single pass's (measured, 44.1 to 48 kHz: 22 dB at the joins instead of
    34, VBR no longer bit-identical), while one that seeks on a source sample gets the same."""
    if source_rate is None or source_rate == rate:
        return 1
    return rate // math.gcd(rate, FRAME * source_rate)


def encode_argv(
    ffmpeg: str,
    src: Path,
    dst: Path,
    output: Output,
    span: Window,
    segment: Segment,
    source_rate: int | None,
) -> list[str]:
    """ffmpeg's arguments to encode one segment into a bare MP3: the encoder options of a single
    pass (convert.py), no tags, and ffmpeg's Xing/LAME header frame kept, because its end padding
    is the only record of how many samples the last encode holds (``join`` reads it, then drops
    the frame)."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    start = _seek_base(span) + segment.start
    argv += ["-ss", f"{start:.6f}"] if start > 0 else []
    if segment.duration is not None:
        argv += ["-t", f"{segment.duration:.6f}"]
    elif span.end is not None:
        argv += ["-to", f"{span.end:g}"]  # the single pass's end (span_options)
    argv += ["-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1"]
    argv += ["-map_chapters", "-1", *audio_options(output, Extras(), source_rate)]
    argv += ["-id3v2_version", "0", "-write_id3v1", "0", "-write_xing", "1"]
    return [*argv, "-f", "mp3", str(dst)]


def join(parts: Sequence[tuple[Segment, Path]], dst: Path) -> Joined:
    """One MP3 at ``dst`` from every segment's encode: each segment's own frames, the reservoir
    re-packed across the joins, a Xing/LAME header frame for the whole; no ID3 tag."""
    ordered = sorted(parts, key=lambda part: part[0].index)
    if [s.index for s, _ in ordered] != list(range(len(ordered))) or ordered[-1][0].count != len(ordered):
        raise mp3frames.Mp3Error(f"segments {[s.index for s, _ in ordered]} are not a whole set")
    streams = [mp3frames.parse(path.read_bytes()) for _, path in ordered]
    kept = [
        frame
        for (segment, _), stream in zip(ordered, streams, strict=True)
        for frame in _own(segment, stream)
    ]
    _check_uniform(kept)
    first, last = streams[0].tag, streams[-1].tag
    if first is None or last is None:
        raise mp3frames.Mp3Error("an encode has no Xing/LAME header: its delay or padding is unknown")
    audio = mp3frames.pack(kept)
    header = mp3frames.info_frame(audio, first.delay, last.padding, first)
    with dst.open("wb") as out:
        out.write(header)
        for frame in audio:
            out.write(frame)
    return Joined(
        frames=len(audio),
        samples=len(audio) * FRAME - first.delay - last.padding,
        bytes=len(header) + sum(len(frame) for frame in audio),
    )


def _segment(index: int, count: int, begin: int, end: int, rate: int, overlap: int) -> Segment:
    """The segment that keeps frames [begin, end) of the span."""
    first = max(0, begin - overlap)
    if index == count - 1:
        return Segment(index, count, first * FRAME / rate, None, begin - first, None)
    duration = (end + LOOKAHEAD_FRAMES - first) * FRAME / rate
    return Segment(index, count, first * FRAME / rate, duration, begin - first, end - begin)


def _own(segment: Segment, stream: mp3frames.Stream) -> list[mp3frames.Frame]:
    """The frames of an encode that belong to its segment."""
    frames = stream.frames
    if segment.frames is None:
        return frames[segment.skip_frames :]
    end = segment.skip_frames + segment.frames
    if len(frames) < end:
        raise mp3frames.Mp3Error(
            f"segment {segment.index}'s encode has {len(frames)} frames, {end} were planned"
        )
    return frames[segment.skip_frames : end]


def _check_uniform(frames: Sequence[mp3frames.Frame]) -> None:
    kinds = {(f.header.rate, f.header.channels) for f in frames}
    if len(kinds) != 1:
        raise mp3frames.Mp3Error(f"the encodes differ in rate or channels: {sorted(kinds)}")


def _seek_base(span: Window) -> float:
    """Where the single pass seeks to: the span's start as span_options writes it."""
    options = span_options(span)
    return float(options[1]) if options[:1] == ["-ss"] else 0.0


def _rate_ok(output: Output) -> bool:
    """VBR, or CBR at a bitrate MPEG-1 Layer III has (kbit/s, "192k" or "192000")."""
    if output.quality is not None:
        return True
    text = (output.effective_bitrate or "").lower().removesuffix("k")
    try:
        value = float(text)
    except ValueError:
        return False
    kbits = value if (output.effective_bitrate or "").lower().endswith("k") else value / 1000
    return kbits in mp3frames.BITRATES[1:]
