"""SQL for accounts as the auth service sees them: lookups by login and inserts."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import User


async def find_by_login(db: AsyncSession, *, login: str) -> User | None:
    """`login` is an email address (contains "@") or a username, matched case-insensitively."""
    login = login.strip().lower()
    condition = User.email == login if "@" in login else func.lower(User.username) == login
    result: User | None = await db.scalar(select(User).where(condition))
    return result


async def taken_fields(db: AsyncSession, *, username: str, email: str) -> list[str]:
    rows = await db.execute(
        select(User.username, User.email).where(
            (func.lower(User.username) == username.lower()) | (User.email == email.lower())
        )
    )
    taken: set[str] = set()
    for row in rows:
        if row.username.lower() == username.lower():
            taken.add("username")
        if row.email == email.lower():
            taken.add("email")
    return sorted(taken)


async def insert_user(db: AsyncSession, *, username: str, email: str, password_hash: str) -> User:
    user = User(username=username, email=email.lower(), password_hash=password_hash)
    db.add(user)
    await db.flush()
    return user


async def set_password_hash(db: AsyncSession, *, user_id: int, password_hash: str) -> None:
    await db.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))
