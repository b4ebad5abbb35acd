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


def test_audio_options_become_the_apis_form_fields() -> None:
    from mp4mp3_cli.options import AudioOptions

    audio = AudioOptions(
        format="m4a",
        title="Épisode 12",
        artist="Zoë",
        year=2024,
        cover_art="1:05",
        chapters=False,
        loudness="on",
        trim_silence=True,
    )
    options = output_options(bitrate="128k", audio=audio)
    assert options.form_fields() == {
        "bitrate": "128k",
        "format": "m4a",
        "title": "Épisode 12",
        "artist": "Zoë",
        "year": "2024",
        "coverArt": "65",
        "loudness": "on",
        "chapters": "false",
        "trimSilence": "true",
    }
    assert options.extension == "m4a"
    assert output_options(audio=AudioOptions(cover_art="AUTO")).form_fields() == {"coverArt": "auto"}


@pytest.mark.parametrize(
    ("audio", "extra", "message"),
    [
        ({"format": "wav"}, {}, "--format must be one of mp3, m4a, opus, flac."),
        ({"format": "flac"}, {"bitrate": "192k"}, "--format flac is lossless and takes no --bitrate."),
        ({"format": "opus"}, {"quality": 2}, "--quality is for MP3 only; use --bitrate for opus."),
        ({"format": "opus"}, {"sample_rate": 44100}, "--format opus is always 48000 Hz"),
        ({"loudness": "-3"}, {}, "--loudness must be between -40 and -5 LUFS."),
        ({"loudness": "loud"}, {}, "--loudness takes a target in LUFS (e.g. -16) or 'on'."),
        ({"cover_art": "middle"}, {}, "--cover-art takes seconds"),
        ({"title": "x" * 257}, {}, "--title takes at most 256 characters."),
        ({"cover_art": "auto"}, {"engine": "moviepy"}, "--engine moviepy makes a plain MP3 only."),
    ],
)
def test_bad_audio_options_are_refused_before_uploading(
    audio: dict[str, object], extra: dict[str, object], message: str
) -> None:
    from mp4mp3_cli.options import AudioOptions

    with pytest.raises(InvalidOption) as err:
        output_options(audio=AudioOptions(**audio), **extra)  # type: ignore[arg-type]
    assert message in str(err.value)
