"""Revision 0003 on a database that already holds rooms: they become public rooms, owned by
their creators; and the schema at head matches `shared.models`."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from shared.database import create_engine
from shared.models import Base
from shared.schema import alembic_config
from shared.settings import Settings
from tests.migrations.sql import run_sql


async def test_existing_rooms_become_public_and_owned_by_their_creators(blank_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(blank_url), "0001")
    await run_sql(
        blank_url,
        "INSERT INTO users (id, username, email, password_hash, created_at) VALUES "
        "(1, 'ann', 'ann@example.com', 'x', CURRENT_TIMESTAMP)",
    )
    await run_sql(
        blank_url,
        "INSERT INTO rooms (id, name, created_by, created_at, last_seq) VALUES "
        "('lobby', 'Lobby', 1, CURRENT_TIMESTAMP, 0), "
        "('orphan', 'Orphan', NULL, CURRENT_TIMESTAMP, 1)",
    )
    await run_sql(
        blank_url,
        "INSERT INTO messages (room_id, seq, user_id, content, created_at) VALUES "
        "('orphan', 1, 1, 'kept', CURRENT_TIMESTAMP)",
    )
    await asyncio.to_thread(command.upgrade, alembic_config(blank_url), "head")

    rooms = await run_sql(blank_url, "SELECT id, kind, direct_key FROM rooms ORDER BY id")
    assert rooms == [("lobby", "public", None), ("orphan", "public", None)]
    members = await run_sql(blank_url, "SELECT room_id, user_id, role FROM room_members")
    assert members == [("lobby", 1, "owner")]

    await asyncio.to_thread(command.downgrade, alembic_config(blank_url), "0001")
    assert await run_sql(blank_url, "SELECT id FROM rooms ORDER BY id") == [("lobby",), ("orphan",)]
    assert await run_sql(blank_url, "SELECT content FROM messages") == [("kept",)]


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
