"""convert's output options: checked before uploading, sent as the API's form fields."""

from __future__ import annotations

import pytest

from mp4mp3_cli.options import InvalidOption, output_options, parse_bitrate, parse_seconds


def test_no_options_send_no_fields() -> None:
    assert output_options().form_fields() == {}


def test_every_option_becomes_its_form_field() -> None:
    options = output_options(
        bitrate="192",
        channels=1,
        sample_rate=48000,
        trim_start="1:30",
        trim_end="95.5",
        engine="moviepy",
        notify_email=False,
    )
    assert options.form_fields() == {
        "bitrate": "192k",
        "channels": "1",
        "sampleRate": "48000",
        "trimStart": "90",
        "trimEnd": "95.5",
        "engine": "moviepy",
        "notifyEmail": "false",
    }


def test_quality_is_sent_as_a_number() -> None:
    assert output_options(quality=0).form_fields() == {"quality": "0"}


@pytest.mark.parametrize("text", ["192k", "192K", "192", " 192k "])
def test_bitrate_spellings(text: str) -> None:
    assert parse_bitrate(text) == "192k"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"bitrate": "100k"}, "--bitrate must be one of 64k"),
        ({"bitrate": "128k", "quality": 2}, "not both"),
        ({"quality": 10}, "--quality must be 0"),
        ({"channels": 6}, "--channels must be 1"),
        ({"sample_rate": 8000}, "--sample-rate must be one of"),
        ({"engine": "sox"}, "--engine must be one of"),
        ({"trim_start": "10", "trim_end": "5"}, "--trim-end must be after --trim-start"),
        ({"trim_end": "0"}, "--trim-end must be after"),
        ({"trim_start": "soon"}, "--trim-start takes seconds"),
        ({"trim_start": "1:75"}, "go up to 59"),
        ({"trim_end": "90000"}, "between 0 and 86400"),
        ({"trim_end": "nan"}, "between 0 and 86400"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidOption, match=says):
        output_options(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("2.5", 2.5), ("1:30", 90.0), ("1:00:01.5", 3601.5), ("0:05", 5.0)]
)
def test_times(text: str, seconds: float) -> None:
    assert parse_seconds(text, "--trim-start") == seconds
