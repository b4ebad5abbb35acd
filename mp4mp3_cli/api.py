"""The REST API as the command line uses it: one method per call, errors as :class:`CliError`.

Uploads stream the file in 64 KiB reads through :class:`ProgressReader` (never the whole file in
memory) and downloads stream to ``<name>.part``, renamed when complete; both report bytes as
they go and stop when asked to (Ctrl-C on another thread).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from mp4mp3_cli.errors import CliError, ExitCode, from_response

ByteCallback = Callable[[int], None]
DOWNLOAD_CHUNK = 256 * 1024
LIVE_READ_SECONDS = 60.0  # the gateway sends a heartbeat every 15 s; silence this long is a broken stream


class Stopped(Exception):
    """The user asked to stop (Ctrl-C) while a transfer ran."""


class ProgressReader:
    """A binary file whose reads are counted (for a progress bar) and can be stopped. httpx asks
    its length through fileno() and reads it in chunks, so the body is streamed."""

    def __init__(self, fh: IO[bytes], on_bytes: ByteCallback, stop: threading.Event) -> None:
        self._fh = fh
        self._on_bytes = on_bytes
        self._stop = stop
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        if self._stop.is_set():
            raise Stopped
        chunk = self._fh.read(size)
        self.sent += len(chunk)
        self._on_bytes(len(chunk))
        return chunk

    def fileno(self) -> int:
        return self._fh.fileno()

    def tell(self) -> int:
        return self._fh.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._fh.seek(offset, whence)
        if position == 0 and self.sent:
            self._on_bytes(-self.sent)  # a resend starts from zero
            self.sent = 0
        return position


class Api:
    """The gateway at ``base_url``; ``token`` is sent as the bearer where given."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "mp4mp3-cli", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounts ---------------------------------------------------------------------------------

    def signup(self, auth_url: str, email: str, password: str) -> dict[str, Any]:
        url = f"{auth_url.rstrip('/')}/signup"
        resp = self._request("POST", url, what="the signup", json={"email": email, "password": password})
        if resp.status_code in (404, 405):
            raise CliError(
                ExitCode.USAGE,
                f"{auth_url} does not offer signup (POST /signup answered {resp.status_code}). Pass the "
                "auth service's URL with --auth-api or MP4MP3_AUTH_API.",
            )
        return self._json(resp, what="the signup", login_hint=False)

    def login(self, email: str, password: str) -> dict[str, Any]:
        resp = self._request("POST", "/login", what="the login", json={"email": email, "password": password})
        token = self._json(resp, what="the login", login_hint=False)
        if not isinstance(token.get("access_token"), str):
            raise CliError(ExitCode.SERVER_ERROR, f"{self.base_url}/login answered without an access token.")
        return token

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens for a refresh token; None if the server refuses it (revoked, reused, expired)."""
        resp = self._request(
            "POST", "/refresh", what="renewing the login", json={"refresh_token": refresh_token}
        )
        if resp.status_code in (400, 401, 404, 405, 422):
            return None
        token = self._json(resp, what="renewing the login", login_hint=False)
        return token if isinstance(token.get("access_token"), str) else None

    def logout(self, refresh_token: str) -> bool:
        """End the session on the server; False if it did not know it (already ended)."""
        resp = self._request("POST", "/logout", what="the logout", json={"refresh_token": refresh_token})
        if resp.status_code in (401, 404, 405):
            return False
        if not resp.is_success:
            raise from_response(resp.status_code, resp.content, what="the logout", login_hint=False)
        return True

    # -- jobs -------------------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        fields: Mapping[str, str],
        on_bytes: ByteCallback,
        stop: threading.Event,
    ) -> dict[str, Any]:
        """POST /jobs with the file streamed as multipart part ``file``; the accepted job."""
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise CliError(ExitCode.LOCAL_FILE, f"Cannot read {path}: {exc.strerror}.") from None
        with fh:
            reader = ProgressReader(fh, on_bytes, stop)
            resp = self._request(
                "POST",
                "/jobs",
                what=f"the upload of {path.name}",
                files={"file": (path.name, reader, "video/mp4")},
                data=dict(fields),
            )
        return self._json(resp, what=f"the upload of {path.name}")

    def job(self, job_id: str) -> dict[str, Any]:
        what = f"reading job {job_id}"
        return self._json(self._request("GET", f"/jobs/{_segment(job_id)}", what=what), what=what)

    def jobs(self, limit: int, offset: int) -> dict[str, Any]:
        resp = self._request("GET", "/jobs", what="the job list", params={"limit": limit, "offset": offset})
        return self._json(resp, what="the job list")

    def cancel(self, job_id: str) -> None:
        resp = self._request("DELETE", f"/jobs/{_segment(job_id)}", what=f"cancelling job {job_id}")
        if resp.status_code != 204:
            self._json(resp, what=f"cancelling job {job_id}")

    @contextlib.contextmanager
    def events(self) -> Iterator[Iterator[tuple[str, Any]] | None]:
        """GET /jobs/events: the caller's job changes as (event, data) pairs, or None when the
        gateway does not stream them (an older gateway, or a proxy in the way): poll instead."""
        with _transport_errors(self.base_url, "following jobs"):
            timeout = httpx.Timeout(self._http.timeout.connect, read=LIVE_READ_SECONDS)
            headers = {"Accept": "text/event-stream"}
            with self._http.stream("GET", "/jobs/events", headers=headers, timeout=timeout) as resp:
                if resp.status_code in (401, 403):
                    resp.read()
                    raise from_response(resp.status_code, resp.content, what="following jobs")
                streaming = resp.headers.get("content-type", "").startswith("text/event-stream")
                yield (
                    _server_sent_events(resp.iter_lines()) if resp.status_code == 200 and streaming else None
                )

    @contextlib.contextmanager
    def mp3(self, job_id: str) -> Iterator[httpx.Response]:
        """GET /jobs/{id}/mp3 as a streamed response (status already checked)."""
        what = f"the download of job {job_id}'s MP3"
        url = f"/jobs/{_segment(job_id)}/mp3"
        with (
            _transport_errors(self.base_url, what),
            self._http.stream("GET", url, headers={"Accept": "*/*"}) as resp,
        ):
            if resp.status_code != 200:
                resp.read()
                raise from_response(resp.status_code, resp.content, what=what)
            yield resp

    def download(
        self,
        job_id: str,
        choose_path: Callable[[httpx.Response], Path],
        on_start: Callable[[int | None], None],
        on_bytes: ByteCallback,
        stop: threading.Event,
    ) -> tuple[Path, int]:
        """Stream the MP3 to ``choose_path(response)``; returns where and how many bytes.
        The file appears only when complete (written as ``.part`` first)."""
        with self.mp3(job_id) as resp:
            dest = choose_path(resp)
            total = _content_length(resp)
            on_start(total)
            part = dest.with_name(dest.name + ".part")
            written = 0
            try:
                with (
                    part.open("wb") as out,
                    _transport_errors(self.base_url, f"the download of job {job_id}"),
                ):
                    for chunk in resp.iter_bytes(DOWNLOAD_CHUNK):
                        if stop.is_set():
                            raise Stopped
                        out.write(chunk)
                        written += len(chunk)
                        on_bytes(len(chunk))
                if total is not None and written != total:
                    raise CliError(
                        ExitCode.UNREACHABLE,
                        f"The download of job {job_id} ended after {written} of {total} bytes; try again.",
                    )
                os.replace(part, dest)
            except OSError as exc:
                raise CliError(ExitCode.LOCAL_FILE, f"Cannot write {dest}: {exc.strerror}.") from None
            finally:
                part.unlink(missing_ok=True)
        return dest, written

    # -- plumbing ---------------------------------------------------------------------------------

    def _request(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        with _transport_errors(self.base_url if url.startswith("/") else url, what):
            return self._http.request(method, url, **kwargs)

    def _json(self, resp: httpx.Response, *, what: str, login_hint: bool = True) -> dict[str, Any]:
        if not resp.is_success:
            raise from_response(resp.status_code, resp.content, what=what, login_hint=login_hint)
        try:
            document = resp.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise CliError(ExitCode.SERVER_ERROR, f"{resp.request.url} answered something other than JSON.")
        return document


def _server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """The events of a text/event-stream whose data is JSON (comments, ids and retries skipped)."""
    event, data = "message", ""
    for line in lines:
        if not line:
            parsed = _json_or_none(data)
            if parsed is not None:
                yield event, parsed
            event, data = "message", ""
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif line.startswith(":"):
            yield "heartbeat", None  # lets the caller look at its stop flag


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _segment(job_id: str) -> str:
    """A job id as one path segment: a typo with a slash must not reach another route."""
    return quote(job_id, safe="")


def _content_length(resp: httpx.Response) -> int | None:
    try:
        return int(resp.headers["content-length"])
    except (KeyError, ValueError):
        return None


@contextlib.contextmanager
def _transport_errors(url: str, what: str) -> Iterator[None]:
    """httpx's transport failures as sentences with exit code UNREACHABLE."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise CliError(ExitCode.UNREACHABLE, f"Cannot reach {url}: the connection timed out.") from None
    except httpx.ConnectError as exc:
        raise CliError(
            ExitCode.UNREACHABLE, f"Cannot reach {url} ({_reason(exc)}). Is the server up and the URL right?"
        ) from None
    except httpx.TimeoutException:
        raise CliError(ExitCode.UNREACHABLE, f"{url} stopped answering during {what}; try again.") from None
    except httpx.UnsupportedProtocol:
        raise CliError(ExitCode.USAGE, f"{url} is not an http:// or https:// URL.") from None
    except httpx.TransportError as exc:
        raise CliError(
            ExitCode.UNREACHABLE, f"The connection to {url} broke during {what} ({_reason(exc)}); try again."
        ) from None
    except httpx.InvalidURL as exc:
        raise CliError(ExitCode.USAGE, f"{url} is not a usable URL: {exc}.") from None


def _reason(exc: Exception) -> str:
    """Turn "[Errno 111] Connection refused" into "Connection refused"."""
    text = str(exc).strip()
    if text.startswith("[Errno") and "]" in text:
        text = text.split("]", 1)[1].strip()
    return text or type(exc).__name__
