"""Commands that fail before reaching a server: the sentence on stderr (or JSON on stdout) and
the documented exit code, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mp4mp3_cli.app import app
from mp4mp3_cli.config import ConfigStore, Session, StoredConfig

API = "http://127.0.0.1:9"  # never contacted by these tests


class Cli:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.runner = CliRunner()
        self.env = {
            "MP4MP3_CONFIG_DIR": str(config_dir),
            "MP4MP3_API": API,
            "MP4MP3_AUTH_API": None,
            "MP4MP3_PASSWORD": None,
        }

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        result = self.runner.invoke(app, list(args), env=self.env, input=stdin)
        assert "Traceback" not in result.output, result.output
        return result

    def remember(self, minutes: int) -> None:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        ConfigStore(self.config_dir).save(
            StoredConfig(api=API, sessions={API: Session("ada@example.com", "t", expires)})
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


def test_missing_video_is_exit_5_naming_it(cli: Cli, tmp_path: Path) -> None:
    result = cli("convert", str(tmp_path / "holiday.mp4"))
    assert result.exit_code == 5
    assert result.stderr == f"Error: {tmp_path / 'holiday.mp4'}: no such file.\n"
    assert result.stdout == ""


def test_convert_without_login_is_exit_3_and_suggests_login(cli: Cli, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"video")
    result = cli("convert", str(video))
    assert result.exit_code == 3
    assert result.stderr == f"Error: You are not logged in to {API}. Run `mp4mp3 login`.\n"


def test_expired_login_is_exit_3(cli: Cli) -> None:
    cli.remember(minutes=-5)
    result = cli("jobs")
    assert result.exit_code == 3
    assert "expired at" in result.stderr
    assert "Run `mp4mp3 login` again." in result.stderr


def test_errors_are_json_on_stdout_with_json(cli: Cli) -> None:
    result = cli("jobs", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout) == {
        "error": {
            "code": 3,
            "kind": "not_logged_in",
            "message": f"You are not logged in to {API}. Run `mp4mp3 login`.",
        }
    }


def test_both_bitrate_and_quality_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("convert", str(tmp_path / "a.mp4"), "--bitrate", "128k", "--quality", "2")
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_unknown_option_is_exit_2(cli: Cli) -> None:
    assert cli("convert", "a.mp4", "--colour", "blue").exit_code == 2


def test_api_that_is_not_a_url_is_a_usage_error(cli: Cli) -> None:
    result = cli("jobs", "--api", "localhost:8080")
    assert result.exit_code == 2
    assert result.stderr == "Error: --api must be an http:// or https:// URL, not 'localhost:8080'.\n"


def test_login_without_a_terminal_needs_email_and_password(cli: Cli) -> None:
    no_email = cli("login")
    assert no_email.exit_code == 2
    assert "--email" in no_email.stderr
    no_password = cli("login", "--email", "ada@example.com")
    assert no_password.exit_code == 2
    assert "--password-stdin or MP4MP3_PASSWORD" in no_password.stderr


def test_damaged_config_is_exit_5(cli: Cli) -> None:
    cli.config_dir.mkdir()
    (cli.config_dir / "config.json").write_text("][")
    result = cli("whoami")
    assert result.exit_code == 5
    assert "is damaged" in result.stderr


def test_whoami_and_logout(cli: Cli) -> None:
    cli.remember(minutes=10)
    who = cli("whoami", "--json")
    assert who.exit_code == 0
    assert json.loads(who.stdout)["email"] == "ada@example.com"
    out = cli("logout")
    assert (out.exit_code, out.stdout) == (0, f"Logged out of {API}.\n")
    assert cli("whoami").exit_code == 3
    again = cli("logout")
    assert (again.exit_code, again.stdout) == (0, f"You were not logged in to {API}.\n")


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("mp4mp3 ")


def test_bad_setting_in_the_env_is_a_usage_error_naming_it(cli: Cli) -> None:
    cli.env["MP4MP3_POLL_SECONDS"] = "soon"
    result = cli("jobs")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Bad setting in the environment: MP4MP3_POLL_SECONDS: ")
