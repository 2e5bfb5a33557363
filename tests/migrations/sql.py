"""A blank database to migrate, on the test run's server (or SQLite), and raw SQL on it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.database import create_engine
from shared.settings import Settings
from tests.support.databases import empty_database


@pytest.fixture
async def blank_url(tmp_path: Path) -> AsyncIterator[str]:
    server_url = os.environ.get("GOCHAT_TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    async with empty_database(server_url) as url:
        yield url


async def run_sql(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()
