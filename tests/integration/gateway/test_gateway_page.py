"""The web page's server side: the page and its assets under a strict CSP, the session cookie and
its CSRF token, live events by cookie, and names as browsers send them round-tripping."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx
import pytest

from tests.support.gateway_harness import GatewayProcess, MiB, mp4_like
from tests.support.gateway_world import User
from tests.support.sse import EventStream

pytestmark = pytest.mark.devstack

VIDEO = b"".join(mp4_like(MiB // 4)[0])


def test_the_page_is_served_with_a_strict_csp_and_no_inline_script(gateway: GatewayProcess) -> None:
    page = httpx.get(f"{gateway.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text and 'src="/static/app.js"' in page.text
    assert 'src="http' not in page.text and 'href="http' not in page.text  # nothing from elsewhere
    script = httpx.get(f"{gateway.url}/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text  # names and messages go in as text
    fields = httpx.get(f"{gateway.url}/page/options").json()
    assert [f["name"] for f in fields][:4] == ["bitrate", "quality", "channels", "sampleRate"]
    assert httpx.get(f"{gateway.url}/jobs").status_code == 401  # the API stays where it was


def test_a_page_session_is_an_httponly_strict_cookie_and_needs_the_csrf_token_to_change_things(
    gateway: GatewayProcess,
) -> None:
    email, password = f"page-{secrets.token_hex(4)}@mp4mp3.localhost", secrets.token_urlsafe(16)
    with httpx.Client(base_url=gateway.url, timeout=60) as browser:
        weak = browser.post("/session/signup", json={"email": email, "password": "x"})
        assert weak.status_code == 422 and weak.json()["detail"].endswith(".")
        made = browser.post("/session/signup", json={"email": email, "password": password})
        assert made.status_code == 201, made.text
        cookie = made.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Secure" not in cookie  # served over http here; Secure when the public URL is https
        assert browser.post("/session", json={"email": email, "password": "wrong"}).status_code == 401
        csrf = browser.get("/session").json()["csrf"]
        assert csrf == made.json()["csrf"]

        files = {"file": ("clip.mp4", VIDEO)}
        forged = browser.post("/jobs", files=files)
        assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
        wrong = browser.post("/jobs", files=files, headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        job = browser.post("/jobs", files=files, headers={"X-CSRF-Token": csrf})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]

        stream = EventStream(f"{gateway.url}/jobs/events", cookies=dict(browser.cookies)).open()
        assert stream.next(lambda e: e.event == "job").data["id"] == job_id
        stream.close()
        assert browser.delete(f"/jobs/{job_id}").status_code == 403
        assert browser.delete(f"/jobs/{job_id}", headers={"X-CSRF-Token": csrf}).status_code == 204

        assert browser.delete("/session").status_code == 204
        assert browser.get("/session").status_code == 401


def test_names_sent_as_browsers_encode_them_round_trip(
    gateway: GatewayProcess, signup: Callable[[], User], http: httpx.Client
) -> None:
    user = signup()
    name = 'naïve "clip" ü.mp4'
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; '
        b'filename="na\xc3\xafve %22clip%22 \xc3\xbc.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n" + VIDEO + b"\r\n--B--\r\n"
    )
    headers = {**user.headers, "Content-Type": "multipart/form-data; boundary=B"}
    as_browsers = http.post(f"{gateway.url}/jobs", content=body, headers=headers)
    assert as_browsers.status_code == 202, as_browsers.text
    starred = body.replace(
        b'filename="na\xc3\xafve %22clip%22 \xc3\xbc.mp4"',
        b"filename=\"fallback.mp4\"; filename*=UTF-8''na%C3%AFve%20%22clip%22%20%C3%BC.mp4",
    )
    with_star = http.post(f"{gateway.url}/jobs", content=starred, headers=headers)
    assert with_star.status_code == 202, with_star.text
    listed = http.get(f"{gateway.url}/jobs", headers=user.headers).json()["items"]
    assert [j["filename"] for j in listed] == [name, name]
