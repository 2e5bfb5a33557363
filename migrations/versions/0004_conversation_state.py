"""Conversation state: edits and deletions as events in a room's sequence, tombstones, read
markers and the counters that make unread counts O(1) per room.

- `messages.kind` is `message`, `edit` or `delete`; an edit or deletion takes the room's next
  seq and names the message it acts on in `target_seq`. `edited_at` and `deleted` give a
  message's current state (a deleted message keeps its row, with its content erased).
- `messages.number`: how many `message` rows the room had through this row (events carry the
  count at their place), so the number of messages after a read marker is a subtraction.
- `messages.user_id` may be NULL: a deleted account's messages stay as tombstones (content
  erased), so a room's sequence keeps no holes and its counts stay exact.
- `rooms.message_count` and `rooms.last_message_seq`, bumped with `last_seq` by the store.
- `room_members.read_seq` and `read_number`: the read marker, and the room's `number` there.
  Existing members start with everything read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
CLIENT_KEY_INDEX = "uq_messages_room_id_user_id_client_id"


def _client_key_index() -> None:
    op.create_index(
        CLIENT_KEY_INDEX,
        "messages",
        ["room_id", "user_id", "client_id"],
        unique=True,
        sqlite_where=sa.text("client_id IS NOT NULL"),
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )


def _author_rule(*, nullable: bool, ondelete: str) -> None:
    """SQLite changes a column's nullability or foreign key only by copying the table (batch
    mode does it; `messages` is no one's parent, so dropping the old copy cascades nowhere).
    A partial index does not survive the copy's reflection, so it is made again after."""
    op.drop_index(CLIENT_KEY_INDEX, table_name="messages")
    with warnings.catch_warnings(), op.batch_alter_table("messages") as batch:
        # Reflecting `users` (the foreign key's target) meets its expression index, which
        # the copy of `messages` does not need.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        batch.drop_constraint("fk_messages_user_id_users", type_="foreignkey")
        batch.alter_column("user_id", existing_type=sa.BigInteger(), nullable=nullable)
        batch.create_foreign_key(
            "fk_messages_user_id_users", "users", ["user_id"], ["id"], ondelete=ondelete
        )
    _client_key_index()


def upgrade() -> None:
    # Plain ADD COLUMNs; only the author's foreign key needs SQLite's table copy.
    op.add_column(
        "messages", sa.Column("kind", sa.String(8), server_default="message", nullable=False)
    )
    op.add_column("messages", sa.Column("target_seq", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("edited_at", Timestamp, nullable=True))
    op.add_column(
        "messages", sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "messages", sa.Column("number", sa.BigInteger(), server_default="0", nullable=False)
    )
    _author_rule(nullable=True, ondelete="SET NULL")
    op.create_index(
        "ix_messages_room_id_user_id_seq",
        "messages",
        ["room_id", "user_id", "seq"],
        sqlite_where=sa.text("kind = 'message'"),
        postgresql_where=sa.text("kind = 'message'"),
    )

    # Plain ADD COLUMNs on rooms: a batch copy of `rooms` would cascade into `messages`.
    op.add_column(
        "rooms", sa.Column("message_count", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "rooms", sa.Column("last_message_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "room_members", sa.Column("read_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "room_members",
        sa.Column("read_number", sa.BigInteger(), server_default="0", nullable=False),
    )

    # Every stored row so far is a message: number them per room, then the counters.
    op.execute(
        "UPDATE messages SET number = numbered.n FROM ("
        " SELECT room_id, seq, row_number() OVER (PARTITION BY room_id ORDER BY seq) AS n"
        " FROM messages) AS numbered"
        " WHERE messages.room_id = numbered.room_id AND messages.seq = numbered.seq"
    )
    op.execute(
        "UPDATE rooms SET"
        " message_count = (SELECT count(*) FROM messages WHERE messages.room_id = rooms.id),"
        " last_message_seq = COALESCE("
        "  (SELECT max(seq) FROM messages WHERE messages.room_id = rooms.id), 0)"
    )
    op.execute(
        "UPDATE room_members SET"
        " read_seq = (SELECT last_seq FROM rooms WHERE rooms.id = room_members.room_id),"
        " read_number = (SELECT message_count FROM rooms WHERE rooms.id = room_members.room_id)"
    )


def downgrade() -> None:
    # Events and tombstones have no place in the older schema.
    op.execute("DELETE FROM messages WHERE kind <> 'message' OR user_id IS NULL")
    for column in ("read_number", "read_seq"):
        op.drop_column("room_members", column)
    for column in ("last_message_seq", "message_count"):
        op.drop_column("rooms", column)
    op.drop_index("ix_messages_room_id_user_id_seq", table_name="messages")
    _author_rule(nullable=False, ondelete="CASCADE")
    for column in ("number", "deleted", "edited_at", "target_seq", "kind"):
        op.drop_column("messages", column)
