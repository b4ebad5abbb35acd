"""Request and response bodies of the auth API (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from auth.passwords import MAX_LENGTH
from auth.users import normalize_email

EMAIL_FIELD_MAX = 320  # what the wire accepts; normalize_email applies the real limit


class Credentials(BaseModel):
    email: str = Field(max_length=EMAIL_FIELD_MAX, examples=["ada@example.com"])
    password: str = Field(min_length=1, max_length=MAX_LENGTH, examples=["correct horse battery"])


class SignupRequest(Credentials):
    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return normalize_email(value)
        except ValueError as exc:
            raise PydanticCustomError("email", str(exc)) from None


class UserOut(BaseModel):
    id: str = Field(description="The user's id: the tokens' `sub`")
    email: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    refresh_token: str = Field(
        description="Exchange it at POST /refresh for new tokens before the access token expires; "
        "each works once (a second use revokes the session). POST /logout revokes it"
    )
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokenVersion(BaseModel):
    version: int = Field(description="Access tokens whose `ver` claim is lower were logged out")


class Claims(BaseModel):
    model_config = ConfigDict(extra="allow")

    sub: str
    email: str
    iat: int
    exp: int
    iss: str
    aud: str | list[str]


class Jwk(BaseModel):
    kty: Literal["RSA"]
    kid: str
    alg: Literal["RS256"]
    use: Literal["sig"]
    n: str
    e: str


class Jwks(BaseModel):
    keys: list[Jwk]


class ErrorOut(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
