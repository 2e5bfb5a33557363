"""Private conversations: room kinds, memberships, invitations, bans; user blocks and mutes.

Existing rooms become public rooms, and their creators (where the account still exists)
their owners.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def _user_fk(column: str, table: str, *, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], ondelete=ondelete, name=f"fk_{table}_{column}_users"
    )


def _room_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["room_id"], ["rooms.id"], ondelete="CASCADE", name=f"fk_{table}_room_id_rooms"
    )


def _user_pair(table: str, first: str, second: str) -> None:
    """A table of (first, second) user pairs, e.g. who blocked whom."""
    op.create_table(
        table,
        sa.Column(first, BigId, nullable=False),
        sa.Column(second, BigId, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        _user_fk(first, table),
        _user_fk(second, table),
        sa.PrimaryKeyConstraint(first, second, name=f"pk_{table}"),
    )
    op.create_index(f"ix_{table}_{second}_{first}", table, [second, first])


def upgrade() -> None:
    _user_pair("user_blocks", "blocker_id", "blocked_id")
    _user_pair("user_mutes", "muter_id", "muted_id")

    # Plain ADD COLUMNs and indexes: SQLite would rebuild `rooms` for a CHECK, and dropping
    # the old copy would cascade into `messages`.
    op.add_column(
        "rooms", sa.Column("kind", sa.String(16), server_default="public", nullable=False)
    )
    op.add_column("rooms", sa.Column("direct_key", sa.String(41), nullable=True))
    op.create_index("ix_rooms_kind_id", "rooms", ["kind", "id"])
    op.create_index("uq_rooms_direct_key", "rooms", ["direct_key"], unique=True)

    op.create_table(
        "room_members",
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("joined_at", Timestamp, nullable=False),
        _room_fk("room_members"),
        _user_fk("user_id", "room_members"),
        sa.CheckConstraint("role IN ('owner', 'moderator', 'member')", name="ck_room_members_role"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_members"),
    )
    op.create_index("ix_room_members_user_id_room_id", "room_members", ["user_id", "room_id"])

    op.create_table(
        "room_invites",
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("invitee_id", BigId, nullable=False),
        sa.Column("inviter_id", BigId, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        _room_fk("room_invites"),
        _user_fk("invitee_id", "room_invites"),
        _user_fk("inviter_id", "room_invites", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("room_id", "invitee_id", name="pk_room_invites"),
    )
    op.create_index("ix_room_invites_invitee_id_room_id", "room_invites", ["invitee_id", "room_id"])
    op.create_index("ix_room_invites_inviter_id", "room_invites", ["inviter_id"])

    op.create_table(
        "room_bans",
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("banned_by", BigId, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        _room_fk("room_bans"),
        _user_fk("user_id", "room_bans"),
        _user_fk("banned_by", "room_bans", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_bans"),
    )
    op.create_index("ix_room_bans_banned_by", "room_bans", ["banned_by"])

    # Today's rooms are public (the column default did that); their creators own them.
    op.execute(
        "INSERT INTO room_members (room_id, user_id, role, joined_at) "
        "SELECT id, created_by, 'owner', created_at FROM rooms WHERE created_by IS NOT NULL"
    )


def downgrade() -> None:
    for table in ("room_bans", "room_invites", "room_members"):
        op.drop_table(table)
    op.drop_index("uq_rooms_direct_key", table_name="rooms")
    op.drop_index("ix_rooms_kind_id", table_name="rooms")
    # Plain DROP COLUMNs (SQLite 3.35+): a batch rebuild would drop `rooms`, and with it,
    # by cascade, every message.
    op.drop_column("rooms", "direct_key")
    op.drop_column("rooms", "kind")
    for table in ("user_mutes", "user_blocks"):
        op.drop_table(table)
