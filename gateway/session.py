"""The web page's session: the access token in an HttpOnly cookie, and its CSRF token. Pure.

A script injected into the page cannot read the cookie (HttpOnly), another site cannot send it
(SameSite=Strict), and a state-changing request authenticated by it must also carry
``X-CSRF-Token``: a value derived from the session token (so no server-side state), which a page
of ours learns from ``GET /session`` and another origin can neither read nor compute. Requests with
an ``Authorization: Bearer`` header are not ambient and need no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

COOKIE = "mp4mp3_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    """The CSRF token belonging to a session (unguessable without the HttpOnly cookie)."""
    digest = hashlib.sha256(b"mp4mp3-csrf\x00" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_ok(method: str, session_token: str, sent: str | None) -> bool:
    """May a request authenticated by the session cookie do this?"""
    if method.upper() in SAFE_METHODS:
        return True
    return bool(sent) and hmac.compare_digest(csrf_token(session_token), sent or "")


def cookie_attributes(public_url: str, max_age: int) -> dict[str, object]:
    """``Response.set_cookie`` arguments: HttpOnly, SameSite=Strict, Secure behind https."""
    return {
        "key": COOKIE,
        "max_age": max_age,
        "path": "/",
        "httponly": True,
        "samesite": "strict",
        "secure": public_url.startswith("https://"),
    }
