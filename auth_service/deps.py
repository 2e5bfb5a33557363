"""The auth service's own dependency, declared once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from shared.passwords import PasswordHasher


def get_passwords(connection: HTTPConnection) -> PasswordHasher:
    hasher: PasswordHasher = connection.app.state.passwords
    return hasher


Passwords = Annotated[PasswordHasher, Depends(get_passwords)]
