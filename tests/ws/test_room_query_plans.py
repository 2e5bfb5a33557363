""" "My rooms", the public directory, a room's members and my invitations are each served by
an index on PostgreSQL, never by reading a whole table (EXPLAIN on a seeded, ANALYZEd
database; custom and generic plans, as for the user service's lists)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.database import create_engine
from shared.settings import Settings
from tests.user.test_query_plans import explain
from ws_service.messages.queries import _APPEND_MESSAGES_PG
from ws_service.rooms.queries import (
    invites_statement,
    members_statement,
    my_rooms_by_activity_bound,
    public_rooms_statement,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

WATCHED = {"rooms", "room_members", "room_invites", "users", "messages"}
USERS = 10_000
ROOMS = 50_000
MEMBERS_EACH = 10  # every seeded user is in ten rooms
MESSAGES_EACH = 20  # in every tenth room, by its members in turn


@dataclass(frozen=True)
class Seed:
    user_id: int
    room_id: str


@pytest.fixture(scope="module")
def postgresql_only(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("query plans are checked on PostgreSQL")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seed(postgresql_only: None, settings: Settings) -> AsyncIterator[Seed]:
    tag = secrets.token_hex(3)
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            first, _ = (
                await conn.execute(
                    text(
                        "WITH made AS (INSERT INTO users (username, email, password_hash, "
                        "created_at) SELECT 'rp' || :tag || '_' || g, 'rp' || :tag || '_' || g "
                        "|| '@example.com', 'x', now() FROM generate_series(1, CAST(:n AS int)) g"
                        " RETURNING id) SELECT min(id), max(id) FROM made"
                    ),
                    {"tag": tag, "n": USERS},
                )
            ).one()
            kinds = "(ARRAY['public', 'private', 'public'])[1 + g % 3]"
            await conn.execute(
                text(
                    "INSERT INTO rooms (id, name, created_by, created_at, last_seq, kind) "
                    f"SELECT 'rp' || :tag || '-' || g, 'room', NULL, now(), 0, {kinds} "
                    "FROM generate_series(1, CAST(:rooms AS int)) g"
                ),
                {"tag": tag, "rooms": ROOMS},
            )
            await conn.execute(
                text(
                    "INSERT INTO room_members (room_id, user_id, role, joined_at) "
                    "SELECT 'rp' || :tag || '-' || (1 + (u * 7 + k * 13) % CAST(:rooms AS int)),"
                    " CAST(:first AS bigint) + u, 'member', now() "
                    "FROM generate_series(0, CAST(:n AS int) - 1) u, "
                    "generate_series(1, CAST(:each AS int)) k ON CONFLICT DO NOTHING"
                ),
                {"tag": tag, "rooms": ROOMS, "first": first, "n": USERS, "each": MEMBERS_EACH},
            )
            await conn.execute(
                text(
                    "INSERT INTO room_invites (room_id, invitee_id, inviter_id, created_at) "
                    "SELECT room_id, user_id, CAST(:first AS bigint) + (user_id * 31) % "
                    "CAST(:n AS int), now() FROM room_members"
                    " WHERE room_id LIKE 'rp' || :tag || '-%'"
                ),
                {"tag": tag, "first": first, "n": USERS},
            )
            await conn.execute(
                text(
                    "INSERT INTO messages (room_id, seq, user_id, content, created_at, number) "
                    "SELECT m.room_id, s, m.user_id, 'hello', now(), s FROM room_members m, "
                    "generate_series(1, CAST(:each AS int)) s WHERE m.room_id LIKE 'rp' || :tag"
                    " || '-%0' ON CONFLICT DO NOTHING"
                ),
                {"tag": tag, "each": MESSAGES_EACH},
            )
            await conn.execute(
                text(
                    "UPDATE rooms SET last_seq = CAST(:each AS int), "
                    "message_count = CAST(:each AS int), last_message_seq = CAST(:each AS int)"
                    " WHERE id LIKE 'rp' || :tag || '-%0'"
                ),
                {"tag": tag, "each": MESSAGES_EACH},
            )
            await conn.execute(text("ANALYZE users, rooms, room_members, room_invites, messages"))
        yield Seed(user_id=first + 5, room_id=f"rp{tag}-100")
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def conn(seed: Seed, settings: Settings) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        yield connection
    await engine.dispose()


def assert_index_served(plans: dict[str, list[dict[str, Any]]], *, indexes: set[str]) -> None:
    for kind, nodes in plans.items():
        scans = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes]
        full = [scan for scan in scans if scan[0] == "Seq Scan" and scan[1] in WATCHED]
        assert not full, f"{kind} plan reads a whole table: {scans}"
        used = {index for _, _, index in scans if index}
        assert indexes <= used, f"{kind} plan does not use {indexes}: {scans}"


async def test_my_rooms_with_unread_counts_are_read_through_indexes(
    conn: AsyncConnection, seed: Seed
) -> None:
    """Memberships by the user's index, rooms and last messages by primary key, my messages
    after the marker by (room_id, user_id, seq): no table is read whole."""
    for before in (None, (datetime.now(UTC), seed.room_id)):
        statement, parameters = my_rooms_by_activity_bound(
            user_id=seed.user_id, before=before, limit=100
        )
        plans = await explain(conn, statement.params(parameters))
        assert_index_served(
            plans,
            indexes={
                "ix_room_members_user_id_room_id",
                "pk_rooms",
                "pk_messages",
                "ix_messages_room_id_user_id_seq",
            },
        )


async def test_the_public_directory_is_read_through_the_kind_index(
    conn: AsyncConnection, seed: Seed
) -> None:
    for after in (None, seed.room_id):
        statement = public_rooms_statement(user_id=seed.user_id, after_id=after, limit=101)
        assert_index_served(await explain(conn, statement), indexes={"ix_rooms_kind_id"})


async def test_members_and_invitations_pages_use_their_indexes(
    conn: AsyncConnection, seed: Seed
) -> None:
    members = members_statement(room_id=seed.room_id, after_user_id=None, limit=20)
    assert_index_served(await explain(conn, members), indexes={"pk_room_members"})
    invites = invites_statement(invitee_id=seed.user_id, after_room_id=None, limit=20)
    assert_index_served(
        await explain(conn, invites), indexes={"ix_room_invites_invitee_id_room_id"}
    )


async def test_a_batch_of_new_messages_locks_and_bumps_its_rooms_by_primary_key(
    conn: AsyncConnection, seed: Seed
) -> None:
    """The message writer's one statement touches only its batch's rooms, whatever the
    number of rooms in the table (its plan is not run: EXPLAIN without ANALYZE)."""
    room_ids = sorted(f"{seed.room_id[:-4]}-{n}" for n in range(100, 2100, 100))
    statement = _APPEND_MESSAGES_PG.bindparams(
        ids=room_ids,
        counts=[2] * len(room_ids),
        room_ids=[room_id for room_id in room_ids for _ in (1, 2)],
        positions=[1, 2] * len(room_ids),
        user_ids=[seed.user_id] * 2 * len(room_ids),
        contents=["hi"] * 2 * len(room_ids),
        client_ids=[None] * 2 * len(room_ids),
        created_at=datetime.now(UTC),
    )
    assert_index_served(await explain(conn, statement), indexes={"pk_rooms"})
