"""Settings: secrets are required, the MySQL URL is checked without ever being echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auth.database import parse_mysql_url
from auth.settings import Settings


@pytest.fixture(autouse=True)
def _no_auth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)


def test_mysql_url_and_keys_dir_have_no_default() -> None:
    with pytest.raises(ValidationError) as err:
        Settings()  # type: ignore[call-arg]
    missing = {e["loc"][0] for e in err.value.errors() if e["type"] == "missing"}
    assert missing == {"mysql_url", "keys_dir"}


def test_settings_come_from_auth_prefixed_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTH_MYSQL_URL", "mysql://u:p@db.example:3307/users")
    monkeypatch.setenv("AUTH_KEYS_DIR", str(tmp_path))
    monkeypatch.setenv("AUTH_TOKEN_TTL_SECONDS", "600")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.token_ttl_seconds == 600
    assert settings.generate_keys is False
    assert "p@db" not in repr(settings)  # the password stays out of logs and tracebacks


def test_a_bad_mysql_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(mysql_url="postgres://user:s3cret-pw@host/db", keys_dir=tmp_path)  # type: ignore[arg-type]
    assert "mysql://user:password@host:port/database" in str(err.value)
    assert "s3cret-pw" not in str(err.value.errors(include_input=False))


def test_mysql_url_parts_are_unescaped() -> None:
    args = parse_mysql_url("mysql://mp4mp3:p%40ss%3Aw%2Fd@127.0.0.1:33306/mp4mp3_test_ab")
    assert args == {
        "host": "127.0.0.1",
        "port": 33306,
        "user": "mp4mp3",
        "password": "p@ss:w/d",
        "database": "mp4mp3_test_ab",
    }


def test_mysql_url_port_defaults_to_3306() -> None:
    assert parse_mysql_url("mysql://u:p@db/users")["port"] == 3306
