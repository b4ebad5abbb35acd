"""Output options: form fields become the ConversionJob's spec, or a 422 naming the field."""

from __future__ import annotations

import pytest

from gateway.options import InvalidOptions, conversion_spec, parse_options


def test_no_options_mean_the_defaults() -> None:
    options = parse_options({})
    assert options.output_spec() == {}
    assert (options.engine, options.notify_email) == ("ffmpeg", True)
    assert options.public() == {"engine": "ffmpeg", "notifyEmail": True}


def test_every_option_lands_in_the_spec_shape() -> None:
    options = parse_options(
        {
            "bitrate": "320K",
            "channels": "1",
            "sampleRate": "48000",
            "trimStart": "1.5",
            "trimEnd": "90",
            "engine": "moviepy",
            "notifyEmail": "false",
        }
    )
    assert options.output_spec() == {
        "bitrate": "320k",
        "channels": 1,
        "sampleRate": 48000,
        "trim": {"start": 1.5, "end": 90.0},
    }
    assert (options.engine, options.notify_email) == ("moviepy", False)


def test_vbr_quality_and_blank_fields() -> None:
    assert parse_options({"quality": "0", "bitrate": " ", "trimStart": ""}).output_spec() == {"quality": 0}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bitrate": "100k"}, "bitrate: must be one of 64k, 96k, 128k, 160k, 192k, 224k, 256k, 320k"),
        ({"quality": "10"}, "quality: Input should be less than or equal to 9"),
        ({"quality": "good"}, "quality: Input should be a valid integer"),
        ({"channels": "6"}, "channels: must be 1 (mono) or 2 (stereo)"),
        ({"sampleRate": "8000"}, "sampleRate: must be one of 22050, 32000, 44100, 48000"),
        ({"trimStart": "-1"}, "trimStart: Input should be greater than or equal to 0"),
        ({"trimEnd": "nan"}, "trimEnd"),
        ({"trimEnd": "86401"}, "trimEnd: Input should be less than or equal to 86400"),
        ({"trimStart": "10", "trimEnd": "10"}, "trimEnd must be after trimStart"),
        ({"trimEnd": "0"}, "trimEnd must be after trimStart"),
        (
            {"bitrate": "128k", "quality": "3"},
            "set either bitrate (constant) or quality (variable), not both",
        ),
        ({"engine": "sox"}, "engine: Input should be 'ffmpeg' or 'moviepy'"),
        ({"notifyEmail": "perhaps"}, "notifyEmail: Input should be a valid boolean"),
        ({"bitRate": "128k"}, "unknown option 'bitRate'"),
    ],
)
def test_invalid_options_say_which_and_why(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse_options(fields)
    assert message in str(err.value)
    assert str(err.value).startswith("Invalid output options: ")


def test_conversion_spec_matches_the_crd_shape() -> None:
    spec = conversion_spec(
        video_id="6743c0ffee0123456789abcd",
        filename="a.mp4",
        size=10,
        sha256="0" * 64,
        user_id="42",
        email="a@example.com",
        options=parse_options({"bitrate": "192k"}),
    )
    assert spec == {
        "source": {
            "videoId": "6743c0ffee0123456789abcd",
            "filename": "a.mp4",
            "size": 10,
            "sha256": "0" * 64,
        },
        "owner": {"userId": "42", "email": "a@example.com"},
        "output": {"bitrate": "192k"},
        "engine": "ffmpeg",
        "notify": {"email": True},
    }


def test_tags_cover_chapters_loudness_and_format_land_in_the_spec() -> None:
    options = parse_options(
        {
            "format": "m4a",
            "title": " Épisode 12 ",
            "artist": "Zoë\x07",
            "album": "Ærøskøbing",
            "year": "2024",
            "comment": "line one\nline two",
            "coverArt": "12.50",
            "chapters": "false",
            "loudness": "on",
            "trimSilence": "true",
        }
    )
    assert options.output_spec() == {
        "format": "m4a",
        "tags": {
            "title": "Épisode 12",
            "artist": "Zoë",  # control characters go
            "album": "Ærøskøbing",
            "year": 2024,
            "comment": "line one\nline two",
        },
        "coverArt": "12.5",
        "chapters": False,
        "loudness": -16.0,  # "on": the spoken-word default
        "trimSilence": True,
    }
    assert parse_options({"coverArt": "AUTO", "loudness": "-23"}).output_spec() == {
        "coverArt": "auto",
        "loudness": -23.0,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "wav"}, "format: Input should be 'mp3', 'm4a', 'opus' or 'flac'"),
        ({"format": "m4a", "quality": "2"}, "quality (LAME VBR) is for MP3 only; use bitrate for m4a"),
        ({"format": "flac", "bitrate": "192k"}, "flac is lossless and takes no bitrate"),
        ({"format": "opus", "sampleRate": "44100"}, "opus is always 48000 Hz"),
        ({"engine": "moviepy", "coverArt": "auto"}, "engine moviepy makes a plain MP3 only"),
        ({"coverArt": "middle"}, "coverArt: must be auto, none, or a second of the video"),
        ({"coverArt": "-3"}, "coverArt: must be a second between 0 and 86400"),
        ({"loudness": "-3"}, "loudness: must be a target between -40 and -5 LUFS"),
        ({"loudness": "loud"}, "loudness: Input should be a valid number"),
        ({"year": "24"}, "year: Input should be greater than or equal to 1000"),
        ({"title": "x" * 257}, "title: String should have at most 256 characters"),
        ({"chapters": "maybe"}, "chapters: Input should be a valid boolean"),
    ],
)
def test_invalid_new_options_say_which_and_why(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse_options(fields)
    assert message in str(err.value)


def test_the_api_formats_are_the_shared_ones() -> None:
    from typing import get_args

    from common.formats import FORMAT_NAMES
    from gateway.options import Format

    assert get_args(Format) == FORMAT_NAMES
