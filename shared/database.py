"""Engine and unit-of-work plumbing for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, exc
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
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"timeout": 30, "factory": _SQLiteConnection},
        )
        _tune_sqlite(engine)
        return engine
    # A connect that gets no answer gives up after a few seconds (asyncpg waits a minute by
    # default). Connections that died with a restarted server are found by
    # `_ping_idle_connections` rather than `pool_pre_ping`, which costs three round trips
    # (BEGIN, a ping, ROLLBACK) on every checkout. JIT is off: every query here is a short
    # index walk, but the planner's cost for a LATERAL per-author feed page passes
    # PostgreSQL's JIT threshold, and compiling it took 3 s against 45 ms of execution
    # (measured on 1,000,000 posts). Prepared statements always run their generic plan:
    # PostgreSQL otherwise keeps planning a statement on every execution whenever its
    # generic plan's estimated cost exceeds the custom ones' (a feed page: 1-2 ms of
    # planning for 1.5 ms of execution, a third of a feed request's database CPU), and
    # every list's generic plan is checked to walk an index (tests/user/test_query_plans).
    # Up to twice `database_pool_size` connections, and every one opened is kept (until
    # `pool_recycle`): with as many again as overflow, each returned beyond the pool size was
    # closed, and the next burst opened it again (a connect is TLS, authentication and
    # asyncpg's type introspection, and a server process forked): opening 10,000 chat sockets
    # made ~180 connections; now 20, opened by the first burst and kept.
    # Last in, first out: the connections a steady load needs stay warm (no ping), the rest
    # wait for the next burst.
    engine = create_async_engine(
        url,
        pool_size=2 * settings.database_pool_size,
        max_overflow=0,
        pool_use_lifo=True,
        pool_recycle=1800,
        connect_args={
            "timeout": 5,
            "server_settings": {"jit": "off", "plan_cache_mode": "force_generic_plan"},
        },
    )
    _ping_idle_connections(engine)
    return engine


# A pooled connection idle longer than this is pinged before use; one back from a request
# sooner is used as it is.
PING_IF_IDLE_SECONDS = 1.0
_RETURNED_AT = "gochat_returned_at"


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """`pool_pre_ping`, for connections that sat idle in the pool only.

    A server restart takes longer than `PING_IF_IDLE_SECONDS`, so a connection it killed
    while nobody used it is idle by then, fails its ping, and the pool is refreshed before
    a request sees it (as `pool_pre_ping` would). Connections in use when it died fail their
    query instead; SQLAlchemy then invalidates the whole pool and the request gets the 503
    of `shared.availability`, as it did with `pool_pre_ping`. Under load, connections go
    back and out within milliseconds and pay no round trip."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_RETURNED_AT, None)

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_IF_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # As a failed pre-ping: this connection and every older one are replaced.
            raise exc.InvalidatePoolError() from error


class _SQLiteConnection(sqlite3.Connection):
    """Ends its transaction when it is closed. SQLAlchemy closes a connection whose query was
    cancelled (a task cancelled, a timeout) while that query's cursor is still alive in the
    exception's traceback; SQLite then keeps the connection open, transaction and write lock
    included, until the cursor is freed: every writer of the database waited for the garbage
    collector (tens of seconds). A rollback first gives the lock back at once."""

    def close(self) -> None:
        # Closed already, `in_transaction` raises; closing again must stay a no-op.
        with contextlib.suppress(sqlite3.Error):
            if self.in_transaction:
                self.rollback()
        super().close()


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


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read: on PostgreSQL each statement runs on its own
    (autocommit), which saves the BEGIN and COMMIT round trips of a transaction that reads
    and sees nothing a READ COMMITTED transaction would not (each of its statements takes a
    fresh snapshot too). SQLite keeps its transactions (its lock is local, not a round trip)."""
    if engine.dialect.name != "postgresql":
        return create_sessionmaker(engine)
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    @event.listens_for(reader.sync_engine, "before_cursor_execute")
    def _refuse_writes(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        # Outside a transaction two writes would not be atomic: a GET that writes is a bug.
        if context is not None and (context.isinsert or context.isupdate or context.isdelete):
            raise ReadOnlyViolation(f"a read-only request tried to write: {statement[:80]}")

    return create_sessionmaker(reader)


def create_statement_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for writes done in one statement (a like, a follow: a data-modifying CTE on
    PostgreSQL): there each statement is its own transaction (autocommit), which saves the
    BEGIN and COMMIT round trips; a statement is atomic on its own. A service that takes
    one must write in a single statement on PostgreSQL. SQLite keeps its transactions, so
    a service's several-statement SQLite path stays atomic."""
    if engine.dialect.name != "postgresql":
        return create_sessionmaker(engine)
    return create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


class ReadOnlyViolation(RuntimeError):
    """A statement that writes, run by a session of `create_read_sessionmaker`."""


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


def on_postgresql(db: AsyncSession) -> bool:
    """Whether the session's database is PostgreSQL: where a statement has a PostgreSQL form
    (arrays, data-modifying CTEs, autocommit) and a portable one for SQLite."""
    return db.get_bind().dialect.name == "postgresql"


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
    return insert_unless_present_in(db.get_bind().dialect.name, model, values, key=key)


def insert_unless_present_in(
    dialect: str,
    model: type[Any] | Table,
    values: dict[str, Any],
    *,
    key: list[InstrumentedAttribute[Any]],
) -> Any:
    """`insert_unless_present` for a dialect named ahead of any session, for a statement
    built once with bound parameters as `values`. Given a model's `Table`, it is plain
    Core: a list of parameter sets runs it as one executemany, not as the ORM's bulk insert."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=key)
