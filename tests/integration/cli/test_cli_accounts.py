"""signup, login, logout, whoami against the devstack's auth and gateway, and every way a login
fails: wrong password, taken email, weak password, unreachable server, rejected or expired token."""

from __future__ import annotations

import datetime as dt
import json
import stat
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from auth.keys import KeyRing
from devstack.servers.services import JWT_AUDIENCE, JWT_ISSUER
from tests.support.cli_harness import Account, Cli, closed_port, new_account

pytestmark = pytest.mark.devstack


def test_signup_logs_in_and_keeps_the_token_for_the_owner_only(cli: Cli, urls: dict[str, str]) -> None:
    user = new_account()
    result = cli("signup", "--email", user.email, "--password-stdin", stdin=user.password + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Created the account {user.email} and logged in to {urls['api']}.\n"
    path = cli.config_dir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["api"] == urls["api"]
    assert stored["auth_api"] == urls["auth"]
    assert stored["sessions"][urls["api"]]["email"] == user.email
    # the token works: the new user has no jobs yet
    jobs = cli("jobs")
    assert (jobs.exit_code, jobs.stdout) == (0, "No jobs yet: `mp4mp3 convert VIDEO.mp4` starts one.\n")


def test_login_stores_the_api_so_later_commands_need_no_option(cli: Cli, account: Account) -> None:
    cli.store().path.unlink()
    login = cli(
        "login", "--email", account.email, "--json", MP4MP3_PASSWORD=account.password, MP4MP3_AUTH_API=None
    )
    assert login.exit_code == 0, login.output
    answer = json.loads(login.stdout)
    assert answer["email"] == account.email
    assert dt.datetime.fromisoformat(answer["expiresAt"]) > dt.datetime.now(dt.UTC)
    assert "token" not in login.stdout  # the secret stays in the file
    whoami = cli("whoami", "--json", MP4MP3_API=None)  # the stored URL
    assert json.loads(whoami.stdout)["api"] == answer["api"]


def test_logout_forgets_the_token(cli: Cli, account: Account, urls: dict[str, str]) -> None:
    out = cli("logout")
    assert (out.exit_code, out.stdout) == (0, f"Logged out of {urls['api']}.\n")
    jobs = cli("jobs")
    assert jobs.exit_code == 3
    assert jobs.stderr == f"Error: You are not logged in to {urls['api']}. Run `mp4mp3 login`.\n"


def test_wrong_password_is_exit_3(cli: Cli, account: Account) -> None:
    result = cli("login", "--email", account.email, "--password-stdin", stdin="not the password\n")
    assert result.exit_code == 3
    assert result.stderr == "Error: Wrong email or password.\n"


def test_taken_email_is_refused_with_exit_6(cli: Cli, account: Account) -> None:
    result = cli("signup", "--email", account.email, "--password-stdin", stdin=account.password + "\n")
    assert result.exit_code == 6
    assert result.stderr == "Error: An account with this email already exists.\n"


def test_weak_password_is_refused_with_the_reason(cli: Cli) -> None:
    user = new_account()
    result = cli("signup", "--email", user.email, "--password-stdin", stdin="short\n")
    assert result.exit_code == 6
    assert result.stderr == "Error: password: The password must be at least 10 characters long.\n"


def test_signup_at_a_server_without_signup_says_to_pass_auth_api(cli: Cli, urls: dict[str, str]) -> None:
    user = new_account()
    result = cli(
        "signup", "--email", user.email, "--password-stdin", stdin=user.password, MP4MP3_AUTH_API=None
    )
    assert result.exit_code == 2
    assert "--auth-api" in result.stderr
    assert result.stderr.startswith(f"Error: {urls['api']} does not offer signup")


def test_unreachable_server_is_exit_4(cli: Cli) -> None:
    port = closed_port()
    api = f"http://127.0.0.1:{port}"
    result = cli("login", "--email", "a@mp4mp3.localhost", "--password-stdin", "--api", api, stdin="x\n")
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith(f"Error: Cannot reach http://127.0.0.1:{port} (")
    assert result.stderr.endswith("Is the server up and the URL right?\n")
    # and with a stored login for that address, every command says the same
    cli.remember(f"http://127.0.0.1:{port}", "a-token")
    jobs = cli("jobs", "--api", f"http://127.0.0.1:{port}", "--json")
    assert jobs.exit_code == 4
    assert json.loads(jobs.stdout)["error"]["kind"] == "unreachable"


def _token(key: object, kid: str, expires: dt.datetime, email: str = "x@mp4mp3.localhost") -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": uuid.uuid4().hex,
        "email": email,
        "iat": int(min(now, expires).timestamp()) - 60,
        "exp": int(expires.timestamp()),
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})  # type: ignore[arg-type]


def test_token_signed_by_another_key_is_exit_3_and_suggests_login(cli: Cli, urls: dict[str, str]) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    in_an_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    cli.remember(urls["api"], _token(stranger, "not-a-published-kid", in_an_hour))
    result = cli("jobs")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: The token was not signed by a key the auth service publishes. Run `mp4mp3 login`.\n"
    )


def test_token_expired_at_the_server_is_exit_3_and_suggests_login(
    cli: Cli, urls: dict[str, str], auth_keys: KeyRing
) -> None:
    signer = auth_keys.signer  # the chart-installed auth's own key
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    cli.remember(urls["api"], _token(signer.private, signer.kid, an_hour_ago))  # the file believes it valid
    result = cli("status", "cj-000000000000000000000000")
    assert result.exit_code == 3
    assert result.stderr == "Error: The token has expired; log in again. Run `mp4mp3 login`.\n"


def test_login_known_to_be_expired_is_exit_3_without_asking_the_server(cli: Cli) -> None:
    port = closed_port()  # nothing answers there: the stored expiry alone decides
    cli.remember(f"http://127.0.0.1:{port}", "old", minutes=-1)
    result = cli("jobs", "--api", f"http://127.0.0.1:{port}")
    assert result.exit_code == 3
    assert "expired at" in result.stderr
    assert result.stderr.endswith("Run `mp4mp3 login` again.\n")
