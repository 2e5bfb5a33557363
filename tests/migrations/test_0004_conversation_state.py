"""Revision 0004 on a database that already holds messages: they are numbered per room, the
rooms' counters match them, and members start with everything read."""

from __future__ import annotations

import asyncio

from alembic import command

from shared.schema import alembic_config
from tests.migrations.sql import run_sql


async def test_existing_messages_are_numbered_and_members_have_read_them(blank_url: str) -> None:
    config = alembic_config(blank_url)
    await asyncio.to_thread(command.upgrade, config, "0003")
    await run_sql(
        blank_url,
        "INSERT INTO users (id, username, email, password_hash, created_at) VALUES "
        "(1, 'ann', 'ann@example.com', 'x', CURRENT_TIMESTAMP), "
        "(2, 'bob', 'bob@example.com', 'x', CURRENT_TIMESTAMP)",
    )
    await run_sql(
        blank_url,
        "INSERT INTO rooms (id, name, created_by, created_at, last_seq, kind) VALUES "
        "('lobby', 'Lobby', 1, CURRENT_TIMESTAMP, 3, 'public'), "
        "('quiet', 'Quiet', 1, CURRENT_TIMESTAMP, 0, 'public')",
    )
    await run_sql(
        blank_url,
        "INSERT INTO messages (room_id, seq, user_id, content, created_at) VALUES "
        "('lobby', 1, 1, 'one', CURRENT_TIMESTAMP), ('lobby', 2, 2, 'two', CURRENT_TIMESTAMP), "
        "('lobby', 3, 1, 'three', CURRENT_TIMESTAMP)",
    )
    await run_sql(
        blank_url,
        "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES "
        "('lobby', 1, 'owner', CURRENT_TIMESTAMP), ('lobby', 2, 'member', CURRENT_TIMESTAMP), "
        "('quiet', 1, 'owner', CURRENT_TIMESTAMP)",
    )

    await asyncio.to_thread(command.upgrade, config, "head")

    assert await run_sql(
        blank_url, "SELECT seq, kind, number, deleted FROM messages ORDER BY seq"
    ) == [(1, "message", 1, False), (2, "message", 2, False), (3, "message", 3, False)]
    assert await run_sql(
        blank_url, "SELECT id, message_count, last_message_seq FROM rooms ORDER BY id"
    ) == [("lobby", 3, 3), ("quiet", 0, 0)]
    assert await run_sql(
        blank_url,
        "SELECT room_id, user_id, read_seq, read_number FROM room_members"
        " ORDER BY room_id, user_id",
    ) == [("lobby", 1, 3, 3), ("lobby", 2, 3, 3), ("quiet", 1, 0, 0)]

    # A deleted account's messages now stay, without their author.
    await run_sql(blank_url, "DELETE FROM users WHERE id = 2")
    assert await run_sql(blank_url, "SELECT seq, user_id FROM messages ORDER BY seq") == [
        (1, 1),
        (2, None),
        (3, 1),
    ]

    # Back to 0003: the tombstone goes (0003 has no place for it), the messages stay.
    await asyncio.to_thread(command.downgrade, config, "0003")
    assert await run_sql(blank_url, "SELECT seq, content FROM messages ORDER BY seq") == [
        (1, "one"),
        (3, "three"),
    ]
