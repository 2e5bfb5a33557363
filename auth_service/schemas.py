from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.schemas import UserOut
from shared.text import PLAIN_TEXT

Username = Annotated[
    str, StringConstraints(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_]+$")
]
Password = Annotated[str, Field(min_length=8, max_length=1024)]


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: EmailStr
    password: Password


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # An email address or a username: both are accepted in this field.
    email: Annotated[
        str, StringConstraints(min_length=1, max_length=320, strip_whitespace=True), *PLAIN_TEXT
    ]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenOut(BaseModel):
    user: UserOut
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class LogoutOut(BaseModel):
    status: Literal["logged_out"] = "logged_out"


class Jwk(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    use: str
    alg: str


class Jwks(BaseModel):
    keys: list[Jwk]
