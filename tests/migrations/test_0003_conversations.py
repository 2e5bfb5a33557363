"""Revision 0003 on a database that already holds rooms: they become public rooms, owned by
their creators; and the schema at head matches `shared.models`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from shared.database import create_engine
from shared.models import Base
from shared.schema import alembic_config
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


async def _run(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_existing_rooms_become_public_and_owned_by_their_creators(blank_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(blank_url), "0001")
    await _run(
        blank_url,
        "INSERT INTO users (id, username, email, password_hash, created_at) VALUES "
        "(1, 'ann', 'ann@example.com', 'x', CURRENT_TIMESTAMP)",
    )
    await _run(
        blank_url,
        "INSERT INTO rooms (id, name, created_by, created_at, last_seq) VALUES "
        "('lobby', 'Lobby', 1, CURRENT_TIMESTAMP, 0), "
        "('orphan', 'Orphan', NULL, CURRENT_TIMESTAMP, 1)",
    )
    await _run(
        blank_url,
        "INSERT INTO messages (room_id, seq, user_id, content, created_at) VALUES "
        "('orphan', 1, 1, 'kept', CURRENT_TIMESTAMP)",
    )
    await asyncio.to_thread(command.upgrade, alembic_config(blank_url), "head")

    rooms = await _run(blank_url, "SELECT id, kind, direct_key FROM rooms ORDER BY id")
    assert rooms == [("lobby", "public", None), ("orphan", "public", None)]
    members = await _run(blank_url, "SELECT room_id, user_id, role FROM room_members")
    assert members == [("lobby", 1, "owner")]

    await asyncio.to_thread(command.downgrade, alembic_config(blank_url), "0001")
    assert await _run(blank_url, "SELECT id FROM rooms ORDER BY id") == [("lobby",), ("orphan",)]
    assert await _run(blank_url, "SELECT content FROM messages") == [("kept",)]


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
async def test_the_migrated_schema_matches_the_models(blank_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(blank_url), "head")

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(Settings(database_url=blank_url))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == [], repr(diff)
