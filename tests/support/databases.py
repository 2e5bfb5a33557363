"""A fresh database per test run: PostgreSQL when GOCHAT_TEST_DATABASE_URL is set, created
and dropped around the run; otherwise an embedded SQLite file."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from shared.schema import upgrade_to_head


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(_plain_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """Yields a migrated database URL; PostgreSQL databases are dropped afterwards."""
    server_url = os.environ.get("GOCHAT_TEST_DATABASE_URL")
    if not server_url:
        url = f"sqlite+aiosqlite:///{tmp_dir / 'gochat-test.db'}"
        upgrade_to_head(url)
        yield url
        return
    name = f"gochat_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def empty_database(server_url: str) -> AsyncIterator[str]:
    """A new PostgreSQL database with no schema at all, on the server `server_url` names;
    dropped afterwards."""
    name = f"gochat_empty_{secrets.token_hex(4)}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
