"""Who is asking: the token a request or websocket carries, its check against the sessions
table, and whether a browser's Origin may use the cookie. Used by every service's
`current_user` and by the websocket handshake, which cannot use FastAPI dependencies."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from shared.errors import Forbidden, Unauthorized
from shared.runtime import Runtime
from shared.sessions import SessionUser, find_live_session_user
from shared.tokens import InvalidToken, TokenClaims

AUTH_COOKIE = "auth_token"
SESSION_ENDED = "session has ended; log in again"


def token_from(connection: HTTPConnection) -> tuple[str | None, bool]:
    """The bearer token and whether it came from the cookie (header wins over cookie)."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
        return None, False
    cookie = connection.cookies.get(AUTH_COOKIE)
    return (cookie, True) if cookie else (None, False)


def verified_claims(runtime: Runtime, token: str | None) -> TokenClaims:
    """Signature, expiry, issuer and audience: the half of authentication that needs no
    database (401 otherwise)."""
    if not token:
        raise Unauthorized("not authenticated")
    try:
        return runtime.tokens.decode(token)
    except InvalidToken:
        raise Unauthorized("invalid or expired token") from None


async def session_user(db: AsyncSession, claims: TokenClaims) -> SessionUser:
    """The user of the token's session; 401 when it is revoked, expired or deleted. (A
    one-statement write checks the session in its own statement instead.)"""
    user = await find_live_session_user(db, session_id=claims.session_id, user_id=claims.user_id)
    if user is None:
        raise Unauthorized(SESSION_ENDED)
    return user


async def authenticate(runtime: Runtime, db: AsyncSession, token: str | None) -> SessionUser:
    """`verified_claims`, then the session row: any failure is 401."""
    return await session_user(db, verified_claims(runtime, token))


def origin_allowed(runtime: Runtime, origin: str | None) -> bool:
    """No Origin header (a non-browser client) is allowed; a browser's must be listed."""
    return origin is None or origin.rstrip("/") in runtime.settings.allowed_origins


def socket_claims(runtime: Runtime, *, token: str | None, origin: str | None) -> TokenClaims:
    """A websocket handshake's first checks: a browser from another site (403: cross-site
    websocket hijacking rides on the cookie), then the token (401). The session row is the
    handshake's to check (the ws service reads those of concurrent handshakes together)."""
    if not origin_allowed(runtime, origin):
        raise Forbidden("origin not allowed")
    return verified_claims(runtime, token)
