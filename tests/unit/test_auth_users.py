"""Which emails signup accepts, and how they are compared."""

from __future__ import annotations

import pytest

from auth.users import email_key, normalize_email


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ada@Example.COM", "Ada@example.com"),
        ("  ada@example.com ", "ada@example.com"),
        ("o'brien+tag@mail.example.org", "o'brien+tag@mail.example.org"),
        ("x';DROP/**/TABLE/**/users;--@example.com", "x';DROP/**/TABLE/**/users;--@example.com"),
        ("jörg@bücher.example", "jörg@bücher.example"),
    ],
)
def test_valid_emails_are_kept_with_a_lower_case_domain(raw: str, stored: str) -> None:
    assert normalize_email(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "ada@-example.com",
        "ada@example..com",
        "ada@10.0.0.1",
        "a" * 65 + "@example.com",
        "ada@" + "a" * 250 + ".com",
        "ada\x00@example.com",
    ],
)
def test_invalid_emails_get_one_clear_sentence(raw: str) -> None:
    with pytest.raises(ValueError, match=r"Enter an email address like name@example\.com\."):
        normalize_email(raw)


def test_email_key_ignores_case_everywhere() -> None:
    assert email_key("Ada.Lovelace@Example.com") == email_key("ada.lovelace@EXAMPLE.COM")
