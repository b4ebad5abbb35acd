"""The MP3's local name from Content-Disposition: the server's name, never a path."""

from __future__ import annotations

import pytest

from mp4mp3_cli.filenames import attachment_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="holiday.mp3"', "holiday.mp3"),
        ("attachment; filename=plain.mp3", "plain.mp3"),
        (
            "attachment; filename=\"Fete_.mp3\"; filename*=UTF-8''F%C3%AAte%20%C3%A0%20Paris.mp3",
            "Fête à Paris.mp3",
        ),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\x\\\\a.mp3"', "a.mp3"),
        ('attachment; filename=".bashrc"', "bashrc"),
    ],
)
def test_names(header: str, name: str) -> None:
    assert attachment_name(header, "fallback.mp3") == name


@pytest.mark.parametrize(
    "header", [None, "", "attachment", 'attachment; filename=""', 'attachment; filename="/"']
)
def test_fallback_when_nothing_usable(header: str | None) -> None:
    assert attachment_name(header, "cj-1.mp3") == "cj-1.mp3"
