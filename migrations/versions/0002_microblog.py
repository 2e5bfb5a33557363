"""The micro-blog: replies, reposts, likes, mentions, hashtags and notifications.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Posts gain their thread parent, what they repost and three counts kept by the writes; new
tables hold tombstones of deleted posts with replies, likes, mentions, tags and
notifications. On SQLite `posts` is copied to add its foreign key (keeping AUTOINCREMENT, so
ids of deleted posts are still never reused).
"""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
Tag = sa.String(100).with_variant(sa.String(100, collation="C"), "postgresql")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


@contextmanager
def _copied_posts() -> Iterator[Any]:
    """`posts` altered in batch: SQLite copies the table, keeping AUTOINCREMENT. Reflecting
    it reflects `users` too, whose lower(username) index SQLAlchemy cannot read (and need
    not: that table is not copied)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("posts", table_kwargs={"sqlite_autoincrement": True}) as posts:
            yield posts


def _counter(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("notifications_read_id", sa.BigInteger(), server_default="0", nullable=False),
    )

    # SQLite adds a foreign key only by copying the table; the copy keeps AUTOINCREMENT.
    with _copied_posts() as posts:
        posts.add_column(sa.Column("in_reply_to_id", sa.BigInteger(), nullable=True))
        posts.add_column(sa.Column("repost_of_id", BigId, nullable=True))
        for counter in ("reply_count", "like_count", "repost_count"):
            posts.add_column(_counter(counter))
        posts.create_foreign_key(
            "fk_posts_repost_of_id_posts", "posts", ["repost_of_id"], ["id"], ondelete="CASCADE"
        )
    if not _sqlite():
        # The per-author feed walk reads `repost_of_id` and `repost_count` from the index
        # (index-only).
        op.drop_index("ix_posts_author_id_id", table_name="posts")
        op.create_index(
            "ix_posts_author_id_id",
            "posts",
            ["author_id", "id"],
            postgresql_include=["repost_of_id", "repost_count"],
        )
    op.create_index(
        "ix_posts_in_reply_to_id_id",
        "posts",
        ["in_reply_to_id", "id"],
        sqlite_where=sa.text("in_reply_to_id IS NOT NULL"),
        postgresql_where=sa.text("in_reply_to_id IS NOT NULL"),
    )
    op.create_index(
        "uq_posts_repost_of_id_author_id",
        "posts",
        ["repost_of_id", "author_id"],
        unique=True,
        sqlite_where=sa.text("repost_of_id IS NOT NULL"),
        postgresql_where=sa.text("repost_of_id IS NOT NULL"),
        postgresql_include=["id"],
    )

    op.create_table(
        "post_tombstones",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("in_reply_to_id", sa.BigInteger(), nullable=True),
        sa.Column("deleted_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_post_tombstones"),
    )
    op.create_index(
        "ix_post_tombstones_in_reply_to_id_id",
        "post_tombstones",
        ["in_reply_to_id", "id"],
        sqlite_where=sa.text("in_reply_to_id IS NOT NULL"),
        postgresql_where=sa.text("in_reply_to_id IS NOT NULL"),
    )

    op.create_table(
        "post_likes",
        sa.Column("post_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], ondelete="CASCADE", name="fk_post_likes_post_id_posts"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_post_likes_user_id_users"
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name="pk_post_likes"),
    )
    op.create_index("ix_post_likes_user_id_post_id", "post_likes", ["user_id", "post_id"])

    op.create_table(
        "post_mentions",
        sa.Column("post_id", BigId, nullable=False),
        sa.Column("char_start", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], ondelete="CASCADE", name="fk_post_mentions_post_id_posts"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_post_mentions_user_id_users"
        ),
        sa.PrimaryKeyConstraint("post_id", "char_start", name="pk_post_mentions"),
    )
    op.create_index("ix_post_mentions_user_id", "post_mentions", ["user_id"])

    op.create_table(
        "post_tags",
        sa.Column("tag", Tag, nullable=False),
        sa.Column("post_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], ondelete="CASCADE", name="fk_post_tags_post_id_posts"
        ),
        sa.PrimaryKeyConstraint("tag", "post_id", name="pk_post_tags"),
    )
    op.create_index("ix_post_tags_post_id", "post_tags", ["post_id"])

    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("actor_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("post_id", BigId, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_notifications_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], ondelete="CASCADE", name="fk_notifications_actor_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], ondelete="CASCADE", name="fk_notifications_post_id_posts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.create_index("ix_notifications_actor_id", "notifications", ["actor_id"])
    op.create_index("ix_notifications_post_id", "notifications", ["post_id"])


def downgrade() -> None:
    for table in ("notifications", "post_tags", "post_mentions", "post_likes", "post_tombstones"):
        op.drop_table(table)
    op.drop_index("uq_posts_repost_of_id_author_id", table_name="posts")
    op.drop_index("ix_posts_in_reply_to_id_id", table_name="posts")
    if not _sqlite():
        op.drop_index("ix_posts_author_id_id", table_name="posts")
        op.create_index("ix_posts_author_id_id", "posts", ["author_id", "id"])
    with _copied_posts() as posts:
        posts.drop_constraint("fk_posts_repost_of_id_posts", type_="foreignkey")
        for column in ("in_reply_to_id", "repost_of_id", "reply_count", "like_count"):
            posts.drop_column(column)
        posts.drop_column("repost_count")
    op.drop_column("users", "notifications_read_id")
