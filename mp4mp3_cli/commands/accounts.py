"""Account commands: signup, login, logout, whoami; the login is stored for the next commands."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any

import typer

from mp4mp3_cli import display
from mp4mp3_cli.api import Api
from mp4mp3_cli.commands.running import Call, command
from mp4mp3_cli.config import Session
from mp4mp3_cli.errors import CliError, ExitCode
from mp4mp3_cli.session import Invocation, session_from_tokens

EmailOption = Annotated[
    str | None,
    typer.Option(
        "--email", "-e", metavar="EMAIL", show_default=False, help="Your email (asked if not given)."
    ),
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from stdin's first line. Or set MP4MP3_PASSWORD; else it is asked.",
    ),
]


@command(auth_api=True)
def signup(call: Call, email: EmailOption = None, password_stdin: PasswordStdinOption = False) -> None:
    """Create an account (at the auth service), then log in with it."""
    inv = call.inv
    email, password = _credentials(inv, email, password_stdin, confirm=True)
    with inv.client(logged_in=False) as client:
        user = client.signup(inv.auth_url, email, password)
    try:
        session = _log_in(inv, email, password)
    except CliError as exc:
        raise CliError(
            exc.code, f"The account {email} was created, but logging in failed: {exc.message}"
        ) from None
    if call.as_json:
        display.emit_json({"id": user.get("id"), **_session_json(inv, session)})
    else:
        display.stdout().print(
            f"Created the account {user.get('email', email)} and logged in to {inv.api_url}."
        )


@command(auth_api=True)
def login(call: Call, email: EmailOption = None, password_stdin: PasswordStdinOption = False) -> None:
    """Log in and keep the token (readable by you only) for the next commands."""
    inv = call.inv
    email, password = _credentials(inv, email, password_stdin, confirm=False)
    session = _log_in(inv, email, password)
    if call.as_json:
        display.emit_json(_session_json(inv, session))
    else:
        until = session.expires_at.astimezone().strftime("%H:%M")
        display.stdout().print(f"Logged in to {inv.api_url} as {session.email} (until {until}).")


@command()
def logout(
    call: Call,
    everywhere: Annotated[bool, typer.Option("--all", help="Forget the logins to every server.")] = False,
) -> None:
    """End the session on the server and forget the stored tokens (of this API, or of all with --all)."""
    inv = call.inv
    forgotten = (
        sorted(inv.config.sessions) if everywhere else [u for u in [inv.api_url] if u in inv.config.sessions]
    )
    for url in forgotten:
        refresh = inv.config.sessions[url].refresh_token
        if refresh:  # the server revokes the session: its tokens stop working everywhere
            with Api(url, timeout=inv.settings.timeout_seconds) as api:
                api.logout(refresh)
        del inv.config.sessions[url]
    if forgotten:
        inv.store.save(inv.config)
    if call.as_json:
        display.emit_json({"loggedOut": forgotten})
    elif forgotten:
        display.stdout().print(f"Logged out of {', '.join(forgotten)}.")
    else:
        display.stdout().print(f"You were not logged in to {inv.api_url}.")


@command()
def whoami(call: Call) -> None:
    """Show who you are logged in as, where, and until when (exit 3 if not, or expired)."""
    inv = call.inv
    session = inv.session()  # renewed first if its token ran out
    if call.as_json:
        display.emit_json(_session_json(inv, session))
    else:
        until = session.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
        display.stdout().print(f"{session.email} at {inv.api_url} (until {until})")


def _credentials(inv: Invocation, email: str | None, password_stdin: bool, confirm: bool) -> tuple[str, str]:
    """Email and password from the options, stdin or env, or asked on the terminal."""
    interactive = sys.stdin.isatty() and not password_stdin
    if not email:
        if not interactive:
            why = "stdin holds the password" if password_stdin else "there is no terminal to ask on"
            raise CliError(ExitCode.USAGE, f"Pass your email with --email ({why}).")
        stored = inv.config.session(inv.api_url)
        email = str(typer.prompt("Email", default=stored.email if stored else None))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError(ExitCode.USAGE, "--password-stdin: stdin held no password.")
    elif inv.settings.password:
        password = inv.settings.password.get_secret_value()
    elif interactive:
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))
    else:
        raise CliError(
            ExitCode.USAGE,
            "Give the password with --password-stdin or MP4MP3_PASSWORD (no terminal to ask on).",
        )
    return email.strip(), password


def _log_in(inv: Invocation, email: str, password: str) -> Session:
    with inv.client(logged_in=False) as client:
        token = client.login(email, password)
    session = session_from_tokens(email, token, dt.datetime.now(dt.UTC))
    inv.config.sessions[inv.api_url] = session
    inv.config.api = inv.api_url
    inv.config.auth_api = inv.auth_url if inv.auth_url != inv.api_url else None
    inv.store.save(inv.config)
    return session


def _session_json(inv: Invocation, session: Session) -> dict[str, Any]:
    return {"api": inv.api_url, "email": session.email, "expiresAt": session.expires_at.isoformat()}
