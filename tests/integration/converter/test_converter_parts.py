"""A long video's parts (converter_job/parts.py) as the pods of its Indexed Job run them, here one
after another as host processes on the devstack's FerretDB: each stores its part, the one that
stores the last joins them; a video the join cannot take is converted whole by part 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from converter_job.transfer import claim_join, delete_parts
from tests.support.converter_harness import ConverterRun, ffprobe
from tests.support.mp3_joins import decode, decoder_complaints

pytestmark = pytest.mark.devstack


def test_the_pod_that_stores_the_last_part_joins_them_and_removes_the_parts(
    converter: ConverterRun, media: Path
) -> None:
    reports = converter.parts(media / "long.mp4", {"bitrate": "128k"}, 3)

    assert [r.get("part") for r in reports[:2]] == [0, 1]  # stored, left to another
    assert (reports[2]["segments"], reports[2]["format"]) == (3, "mp3")
    made = converter.fetched(reports[2])
    assert reports[2]["audioSeconds"] == pytest.approx(120, abs=0.05)
    assert decoder_complaints(made.path) == ""
    assert len(decode(made.path)) == pytest.approx(120 * 44100, abs=1152)
    assert ffprobe(made.path)["streams"][0]["bit_rate"] == "128000"
    assert converter.db["segments.files"].count_documents({}) == 0  # gone once joined
    assert converter.db["segments.done"].count_documents({}) == 0


def test_a_rate_the_join_cannot_take_is_converted_whole_by_part_0(
    converter: ConverterRun, media: Path
) -> None:
    reports = converter.parts(media / "long.mp4", {"sampleRate": 22050}, 2)  # MPEG-2 frames: not joined

    # one pass, as a one-pod converter makes it (mutagen reads its length ~60 ms long at 22.05 kHz:
    # it trims the encoder's delay only when the LAME tag says "LAME", and ffmpeg's says "Lavc")
    assert "segments" not in reports[0] and reports[0]["audioSeconds"] == pytest.approx(120, abs=0.1)
    assert reports[1] == {"part": 1, "of": 2, "size": 0, "skipped": True}
    assert ffprobe(converter.fetched(reports[0]).path)["streams"][0]["sample_rate"] == "22050"


def test_exactly_one_pod_joins_however_the_parts_finish_and_a_retried_joiner_joins_again(
    converter: ConverterRun,
) -> None:
    db, run = converter.db, "run-claims"
    assert [claim_join(db, run, "cj-x", index, 3) for index in (2, 0)] == [False, False]
    assert claim_join(db, run, "cj-x", 1, 3)  # the last to be stored
    assert claim_join(db, run, "cj-x", 1, 3)  # that pod again (it died before storing the MP3)
    assert not claim_join(db, run, "cj-x", 2, 3)  # another part's retry, after the set was complete
    assert not claim_join(db, "another-run", "cj-x", 1, 3)  # a retry's Job starts afresh
    delete_parts(db, run, 3)
    assert db["segments.done"].count_documents({"_id": run}) == 0
