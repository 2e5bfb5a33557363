"""Account rules: who may register, what a login costs, what a logout ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import queries
from shared.database import release_connection
from shared.errors import Conflict, Unauthorized
from shared.events import AccountEvent, publish_account_event
from shared.models import User, utcnow
from shared.passwords import PasswordHasher
from shared.ratelimit import Counted
from shared.runtime import Runtime
from shared.sessions import SessionUser, create_session, revoke_session

INVALID_CREDENTIALS = "invalid email/username or password"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    user: User
    access_token: str
    expires_at: datetime


async def register(
    runtime: Runtime,
    db: AsyncSession,
    passwords: PasswordHasher,
    *,
    username: str,
    email: str,
    password: str,
    client_address: str,
) -> IssuedToken:
    """Creates the user and their first session. Throttled per address before any hashing."""
    await runtime.rate_limiter.hit(
        runtime.settings.register_limit,
        "register",
        client_address,
        detail="too many sign-ups from this address; try again later",
    )
    taken = await queries.taken_fields(db, username=username, email=email)
    if taken:
        raise Conflict(f"{' and '.join(taken)} already taken")
    await release_connection(db)
    password_hash = await passwords.hash(password)
    try:
        user = await queries.insert_user(
            db, username=username, email=email, password_hash=password_hash
        )
    except IntegrityError:  # lost a race with an identical sign-up
        raise Conflict("username or email already taken") from None
    return await _issue_token(runtime, db, user)


async def login(
    runtime: Runtime,
    db: AsyncSession,
    passwords: PasswordHasher,
    *,
    login: str,
    password: str,
    client_address: str,
) -> IssuedToken:
    """Only failures count towards the limits, per account and per address. Each attempt is
    counted before the password is hashed (atomically, so a concurrent burst cannot pass the
    check together) and given back when it succeeds. An unknown account costs the same hash."""
    limiter, limits = runtime.rate_limiter, runtime.settings.login_failure_limit
    keys = (("login-account", login.strip().lower()), ("login-address", client_address))
    counted: list[Counted] = []
    try:
        for key in keys:
            counted.append(
                await limiter.hit(limits, *key, detail="too many failed logins; try again later")
            )
        user = await queries.find_by_login(db, login=login)
        await release_connection(db)
        ok, new_hash = await passwords.verify(
            password, user.password_hash if user is not None else None
        )
    except Exception:  # throttled, busy or the database away: no verdict, nothing counts
        for attempt in counted:
            await limiter.refund(attempt)
        raise
    if user is None or not ok:
        raise Unauthorized(INVALID_CREDENTIALS)
    for attempt in counted:
        await limiter.refund(attempt)
    if new_hash is not None:  # stored with older parameters: upgrade it now
        await queries.set_password_hash(db, user_id=user.id, password_hash=new_hash)
    return await _issue_token(runtime, db, user)


async def _issue_token(runtime: Runtime, db: AsyncSession, user: User) -> IssuedToken:
    issued_at = utcnow().replace(microsecond=0)
    expires_at = issued_at + runtime.settings.access_token_ttl
    session = await create_session(db, user_id=user.id, issued_at=issued_at, expires_at=expires_at)
    token = runtime.tokens.encode(
        user_id=user.id, session_id=session.id, issued_at=issued_at, expires_at=expires_at
    )
    return IssuedToken(user=user, access_token=token, expires_at=expires_at)


async def logout(db: AsyncSession, *, user: SessionUser) -> None:
    await revoke_session(db, session_id=user.session_id)


async def announce_logout(runtime: Runtime, *, user: SessionUser) -> None:
    """Run after the commit: other services close whatever this session still has open."""
    await publish_account_event(
        runtime.broker,
        runtime.settings.redis_namespace,
        AccountEvent(kind="session_revoked", user_id=user.id, session_id=user.session_id),
    )
