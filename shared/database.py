"""Engine and unit-of-work plumbing for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import InstrumentedAttribute

from shared.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for the configured database.

    SQLite gets one connection per process and `BEGIN IMMEDIATE`: a deferred transaction that
    reads and then writes fails with "database is locked" when another writer committed in
    between; taking the write lock up front turns that into a queue instead. WAL lets readers
    in other processes go on meanwhile, and foreign keys are off in SQLite unless asked for.
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, pool_size=1, max_overflow=0, pool_timeout=60, connect_args={"timeout": 30}
        )
        _tune_sqlite(engine)
        return engine
    # pool_pre_ping replaces connections that died with a restarted server; a connect that
    # gets no answer gives up after a few seconds (asyncpg waits a minute by default).
    # JIT is off: every query here is a short index walk, but the planner's cost for a
    # LATERAL per-author feed page passes PostgreSQL's JIT threshold, and compiling it took
    # 3 s against 45 ms of execution (measured on 1,000,000 posts).
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"timeout": 5, "server_settings": {"jit": "off"}},
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the dependency commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back otherwise.

    Service functions only `flush()`; whoever opens the unit of work commits it.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def release_connection(db: AsyncSession) -> None:
    """End a transaction that has only read, so that slow work after it (a password hash)
    does not hold a pooled connection: on SQLite the process has only one. Objects already
    loaded are detached first and stay readable; the next query begins a new transaction."""
    db.expunge_all()
    await db.rollback()


def insert_unless_present(
    db: AsyncSession,
    model: type[Any],
    values: dict[str, Any],
    *,
    key: list[InstrumentedAttribute[Any]],
) -> Any:
    """`INSERT ... ON CONFLICT (key) DO NOTHING` in the session's dialect, so concurrent
    identical inserts neither fail nor duplicate; add `.returning(...)` to learn whether this
    one inserted (no row: it was already there)."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=key)
