"""The embedded SQLite default: a connection dropped in the middle of a transaction (a task
cancelled during a query, which SQLAlchemy answers by invalidating the connection) gives the
database's write lock back at once, not when the garbage collector frees its last cursor."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from shared.database import _SQLiteConnection, create_engine
from tests.conftest import make_settings


def writable(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.5)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.rollback()
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        other.close()


async def test_an_invalidated_connection_with_a_live_cursor_holds_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    engine = create_engine(make_settings(f"sqlite+aiosqlite:///{path}", tmp_path))
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
            assert not await asyncio.to_thread(writable, path)
            raw = await connection.get_raw_connection()
            # What a cancelled query leaves: its cursor, alive in the exception's traceback.
            cursor = await raw.driver_connection.execute("SELECT 1")
            await connection.invalidate()
            assert await asyncio.to_thread(writable, path)
            del cursor
    finally:
        await engine.dispose()


def test_a_connection_closed_twice_raises_nothing(tmp_path: Path) -> None:
    """As sqlite3's own: the rollback on close must not turn a second close into an error."""
    connection = sqlite3.connect(tmp_path / "twice.db", factory=_SQLiteConnection)
    connection.execute("BEGIN IMMEDIATE")
    connection.close()
    connection.close()
    assert writable(tmp_path / "twice.db")
