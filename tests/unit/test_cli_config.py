"""The stored logins (0600, one token per API URL) and which URL and token a command uses."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from mp4mp3_cli.config import ConfigStore, Session, StoredConfig
from mp4mp3_cli.errors import CliError, ExitCode
from mp4mp3_cli.session import pick_url, require_session

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def session(minutes: int = 15) -> Session:
    return Session("ada@example.com", "token-1", NOW + dt.timedelta(minutes=minutes))


def test_config_round_trips_and_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "cfg")
    config = StoredConfig(
        api="http://a:8080", auth_api="http://b:8081", sessions={"http://a:8080": session()}
    )
    store.save(config)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert store.load() == config
    assert [p.name for p in store.folder.iterdir()] == ["config.json"]  # no temporary file left


def test_a_looser_existing_file_is_tightened_on_save(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.path.write_text("{}")
    store.path.chmod(0o644)
    store.save(StoredConfig(api="http://a"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    assert ConfigStore(tmp_path / "nowhere").load() == StoredConfig()


def test_damaged_file_says_what_to_do(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    store.path.write_text("{not json")
    with pytest.raises(CliError) as caught:
        store.load()
    assert caught.value.code == ExitCode.LOCAL_FILE
    assert "delete it and run `mp4mp3 login` again" in caught.value.message


def test_url_precedence_option_env_stored_default() -> None:
    assert pick_url("http://opt/", "http://env", "http://st", "http://def", "--api") == "http://opt"
    assert pick_url(None, "http://env", "http://st", "http://def", "--api") == "http://env"
    assert pick_url(None, None, "http://st", "http://def", "--api") == "http://st"
    assert pick_url(None, None, None, "http://def", "--api") == "http://def"


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://x", "http://"])
def test_url_must_be_http(url: str) -> None:
    with pytest.raises(CliError) as caught:
        pick_url(url, None, None, "http://def", "--api")
    assert caught.value.code == ExitCode.USAGE


def test_token_is_only_used_for_the_url_it_came_from() -> None:
    config = StoredConfig(sessions={"http://a:8080": session()})
    assert require_session(config, "http://a:8080", NOW).token == "token-1"
    with pytest.raises(CliError) as caught:
        require_session(config, "http://other:8080", NOW)
    assert caught.value.code == ExitCode.NOT_LOGGED_IN
    assert caught.value.message == "You are not logged in to http://other:8080. Run `mp4mp3 login`."


def test_expired_login_suggests_logging_in_again() -> None:
    config = StoredConfig(sessions={"http://a": session(minutes=-1)})
    with pytest.raises(CliError) as caught:
        require_session(config, "http://a", NOW)
    assert caught.value.code == ExitCode.NOT_LOGGED_IN
    assert "expired at" in caught.value.message
    assert caught.value.message.endswith("Run `mp4mp3 login` again.")
