"""Names users send: stored without paths or control characters, echoed safely in headers."""

from __future__ import annotations

import pytest

from gateway.filenames import clean_upload_name, content_disposition, mp3_name, multipart_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("holiday.mp4", "holiday.mp4"),
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("C:\\Users\\me\\Videos\\clip.mp4", "clip.mp4"),
        ("bad\r\nX-Injected: 1.mp4", "badX-Injected: 1.mp4"),
        ("  spaced.mp4  ", "spaced.mp4"),
        ("Été.mp4", "Été.mp4"),
        ("E\u0301te\u0301.mp4", "Été.mp4"),  # NFC
        (None, "video.mp4"),
        ("", "video.mp4"),
        ("..", "video.mp4"),
    ],
)
def test_upload_names_are_cleaned(raw: str | None, clean: str) -> None:
    assert clean_upload_name(raw) == clean


def test_long_names_keep_their_extension_within_255_characters() -> None:
    name = clean_upload_name("x" * 400 + ".mp4")
    assert len(name) == 255 and name.endswith(".mp4")


@pytest.mark.parametrize(
    ("video", "mp3"),
    [("holiday.mp4", "holiday.mp3"), ("a.b.mov", "a.b.mp3"), ("noext", "noext.mp3"), (".mp4", ".mp4.mp3")],
)
def test_mp3_name(video: str, mp3: str) -> None:
    assert mp3_name(video) == mp3


def test_ascii_names_are_quoted_plainly() -> None:
    assert content_disposition("song.mp3") == 'attachment; filename="song.mp3"'


def test_other_names_get_an_ascii_fallback_and_rfc5987_utf8() -> None:
    header = content_disposition('Été "live"; vol\\2.mp3')
    assert header == (
        'attachment; filename="Ete _live__ vol_2.mp3"; '
        "filename*=UTF-8''%C3%89t%C3%A9%20%22live%22%3B%20vol%5C2.mp3"
    )


def test_no_character_can_break_out_of_the_header() -> None:
    header = content_disposition("a\r\nSet-Cookie: x=1.mp3")
    assert "\r" not in header and "\n" not in header
    assert content_disposition("日本語.mp3").startswith('attachment; filename="')


@pytest.mark.parametrize(
    ("sent", "meant"),
    [
        ("na\u00efve %22clip%22 \u00fc.mp4", 'na\u00efve "clip" \u00fc.mp4'),  # how browsers and curl send "
        ("two%0D%0Alines.mp4", "two\r\nlines.mp4"),  # then cleaned like any control character
        ("lower %0a %22.mp4", 'lower \n ".mp4'),
        ("100%25 real %41.mp4", "100%25 real %41.mp4"),  # only the standard's three are escapes
        (None, None),
    ],
)
def test_multipart_filenames_are_decoded_as_the_html_standard_encodes_them(
    sent: str | None, meant: str | None
) -> None:
    assert multipart_filename(sent) == meant


def test_filename_star_wins_over_the_plain_fallback_of_the_file_part_only() -> None:
    head = (
        b'--B\r\nContent-Disposition: form-data; name="bitrate"\r\n\r\n192k\r\n'
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="fallback.mp4"; '
        b"filename*=UTF-8''na%C3%AFve%20%22clip%22%20%C3%BC.mp4\r\nContent-Type: video/mp4\r\n"
    )
    assert multipart_filename("fallback.mp4", head) == 'na\u00efve "clip" \u00fc.mp4'
    other = b"--B\r\nContent-Disposition: form-data; name=\"thumb\"; filename*=UTF-8''x.png\r\n"
    assert multipart_filename("a.mp4", other) == "a.mp4"
    broken = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=nope''%FF.mp4\r\n"
    assert multipart_filename("a%22.mp4", broken) == 'a".mp4'


def test_a_decoded_name_is_stored_clean_and_downloaded_exactly() -> None:
    stored = clean_upload_name(multipart_filename("na\u00efve %22clip%22 \u00fc%0D%0A.mp4"))
    assert stored == 'na\u00efve "clip" \u00fc.mp4'
    header = content_disposition(mp3_name(stored))
    assert "filename*=UTF-8''na%C3%AFve%20%22clip%22%20%C3%BC.mp3" in header


def test_audio_names_and_media_types_follow_the_format() -> None:
    from common.formats import audio_filename, format_of_file

    assert [audio_filename("Talk é.mp4", f) for f in ("mp3", "m4a", "opus", "flac", None)] == [
        "Talk é.mp3",
        "Talk é.m4a",
        "Talk é.opus",
        "Talk é.flac",
        "Talk é.mp3",
    ]
    assert [format_of_file(n).media_type for n in ("a.mp3", "a.m4a", "a.opus", "a.FLAC", "old")] == [
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/flac",
        "audio/mpeg",
    ]
