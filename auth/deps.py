"""What routes receive through Depends: the objects built at start, and the credentials parsers."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from auth.database import Database
from auth.keys import KeyStore
from auth.passwords import PasswordHasher
from auth.ratelimit import LoginThrottle, SignupThrottle
from auth.settings import Settings, get_settings

REALM = "mp4mp3"


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.keys
    return keys


def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.throttle
    return throttle


class Utf8Basic(HTTPBasic):
    """HTTP Basic, optional, decoding UTF-8 (RFC 7617; curl -u sends UTF-8): FastAPI's own
    decodes ASCII only, which would lock out every password with an accent."""

    def __init__(self) -> None:
        super().__init__(realm=REALM, auto_error=False, description="email:password")

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        scheme, _, param = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error):
            decoded = ""
        email, colon, password = decoded.partition(":")
        if not colon:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="Malformed HTTP Basic credentials: send base64 of email:password.",
                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )
        return HTTPBasicCredentials(username=email, password=password)


def get_signup_throttle(request: Request) -> SignupThrottle:
    throttle: SignupThrottle = request.app.state.signup_throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
SignupThrottleDep = Annotated[SignupThrottle, Depends(get_signup_throttle)]
BasicDep = Annotated[HTTPBasicCredentials | None, Depends(Utf8Basic())]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]
