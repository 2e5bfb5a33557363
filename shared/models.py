"""The whole GoChat schema: one set of tables that all three services share.

Relationships are not declared: every query is written out in a service's queries module,
so nothing is lazily loaded behind a request's back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so that Alembic can alter them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite has no 64-bit auto-increment unless the column is exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored and returned as aware UTC datetimes on both backends.

    SQLite keeps no time zone; without this a value would come back naive and compare
    wrongly with `datetime.now(UTC)`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Usernames sort and prefix-match bytewise ("C" collation on PostgreSQL, SQLite's default),
# so a b-tree index on lower(username) serves `GET /users?q=prefix`.
UsernameType = String(32).with_variant(String(32, collation="C"), "postgresql")


# Tags compare bytewise too; they are stored lower-cased.
TagType = String(100).with_variant(String(100, collation="C"), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(UsernameType)
    # Stored lower-cased: addresses are compared case-insensitively everywhere.
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Notifications with an id up to this one have been read (`POST /notifications/read`).
    notifications_read_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        Index("uq_users_username_lower", func.lower(text("username")), unique=True),
        Index("uq_users_email", "email", unique=True),
        # Without AUTOINCREMENT SQLite hands a deleted newest row's id to the next insert.
        {"sqlite_autoincrement": True},
    )


class UserFollower(Base):
    __tablename__ = "user_followers"

    follower_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    following_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # The primary key serves "whom does X follow"; this serves "who follows X".
        Index("ix_user_followers_following_id_follower_id", "following_id", "follower_id"),
    )


class Post(Base):
    """A post, a reply (`in_reply_to_id` set) or a repost (`repost_of_id` set, no content of
    its own). A repost is a row here so that it takes its place in every timeline by id,
    like a post, through the same indexes.

    The three counts are kept in the transaction that adds or removes a reply, like or
    repost, so a page of posts shows them without counting anything.
    """

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No foreign key: a deleted parent leaves a `PostTombstone` with the same id, and the
    # thread still hangs together through it.
    in_reply_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    repost_of_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=True
    )
    reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    repost_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        # Newest first per author: ids grow with time, so (author_id, id) orders both. On
        # PostgreSQL it carries `repost_of_id` and `repost_count`, so the feed's per-author
        # walk, which skips posts shown at a newer repost, stays an index-only scan.
        Index(
            "ix_posts_author_id_id",
            "author_id",
            "id",
            postgresql_include=["repost_of_id", "repost_count"],
        ),
        # A thread's direct replies, oldest first.
        Index(
            "ix_posts_in_reply_to_id_id",
            "in_reply_to_id",
            "id",
            sqlite_where=text("in_reply_to_id IS NOT NULL"),
            postgresql_where=text("in_reply_to_id IS NOT NULL"),
        ),
        # One repost per person and post (what makes reposting idempotent), and "is there a
        # newer repost of this post by someone I follow" for the feed.
        Index(
            "uq_posts_repost_of_id_author_id",
            "repost_of_id",
            "author_id",
            unique=True,
            sqlite_where=text("repost_of_id IS NOT NULL"),
            postgresql_where=text("repost_of_id IS NOT NULL"),
            postgresql_include=["id"],
        ),
        {"sqlite_autoincrement": True},
    )


class PostTombstone(Base):
    """What is left of a deleted post that had replies: where it sat in its thread."""

    __tablename__ = "post_tombstones"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    in_reply_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # A thread's replies include its deleted ones, so that their own replies stay reachable.
    __table_args__ = (
        Index(
            "ix_post_tombstones_in_reply_to_id_id",
            "in_reply_to_id",
            "id",
            sqlite_where=text("in_reply_to_id IS NOT NULL"),
            postgresql_where=text("in_reply_to_id IS NOT NULL"),
        ),
    )


class PostLike(Base):
    __tablename__ = "post_likes"

    # The primary key serves a post's likers; the index serves "what did X like" (the
    # caller's `liked` flag, and erasing an account).
    post_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_post_likes_user_id_post_id", "user_id", "post_id"),)


class PostMention(Base):
    """An `@username` in a post that named an existing user when the post was written;
    `char_start` and `char_end` are offsets in the content, in Unicode code points."""

    __tablename__ = "post_mentions"

    post_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    char_start: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    char_end: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )


class PostTag(Base):
    """A `#tag` of a post, lower-cased. The primary key pages a tag's posts newest first."""

    __tablename__ = "post_tags"

    tag: Mapped[str] = mapped_column(TagType, primary_key=True)
    post_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Notification(Base):
    """Something `actor_id` did that `user_id` should hear about. `kind` is one of follow,
    like, repost, reply, mention; `post_id` is the post liked or reposted, or the reply or
    post that mentions (none for a follow). Rows go with the post and with either user."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    post_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # A person's notifications newest first, and how many are above their read mark.
        Index("ix_notifications_user_id_id", "user_id", "id"),
        {"sqlite_autoincrement": True},
    )


class Session(Base):
    """One row per login. A token is only as alive as its row: logout sets `revoked_at`."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class UserBlock(Base):
    """`blocker_id` blocked `blocked_id`: no follows, posts, DMs or invitations between them,
    either way."""

    __tablename__ = "user_blocks"

    blocker_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # The primary key serves "whom did X block"; this serves "who blocked X".
        Index("ix_user_blocks_blocked_id_blocker_id", "blocked_id", "blocker_id"),
    )


class UserMute(Base):
    """`muter_id` muted `muted_id`: the muted person's posts leave the muter's feed."""

    __tablename__ = "user_mutes"

    muter_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    muted_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_user_mutes_muted_id_muter_id", "muted_id", "muter_id"),)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last sequence number handed out in this room; bumped under the row lock.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # "public" (anyone joins), "private" (members only, by invitation) or "direct" (two
    # people). Checked by the code: SQLite cannot add a CHECK to an existing table in place.
    kind: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    # A direct room's pair, "LOW_ID:HIGH_ID"; unique, so concurrent first messages between
    # the same two people make one room. Kept after either account is deleted (ids are
    # never reused), so the other person keeps the conversation.
    direct_key: Mapped[str | None] = mapped_column(String(41), nullable=True)
    # How many `message` rows (not edit/delete events) the room has had, and the newest
    # one's seq (0: none): bumped with `last_seq`, they make unread counts a subtraction.
    message_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_message_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        # The public directory: public rooms in id order.
        Index("ix_rooms_kind_id", "kind", "id"),
        Index("uq_rooms_direct_key", "direct_key", unique=True),
    )


class RoomMember(Base):
    """Who belongs to a room, with which role. Ends when they leave, are kicked or banned,
    or their account is deleted."""

    __tablename__ = "room_members"

    room_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The read marker (only moves forward) and the room's message `number` there.
    read_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    read_number: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("role IN ('owner', 'moderator', 'member')", name="role"),
        # The primary key serves a room's members; this serves "my rooms".
        Index("ix_room_members_user_id_room_id", "user_id", "room_id"),
    )


class RoomInvite(Base):
    """An open invitation to a private room; gone once accepted or declined."""

    __tablename__ = "room_invites"

    room_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    invitee_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    inviter_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_room_invites_invitee_id_room_id", "invitee_id", "room_id"),)


class RoomBan(Base):
    """`user_id` may not join the room again. A ban outlives the account of who made it
    (`banned_by` becomes NULL)."""

    __tablename__ = "room_bans"

    room_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    banned_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"

    room_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # NULL once the author's account is deleted: the message stays as a tombstone.
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    content: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "message", or an event in the room's sequence acting on message `target_seq`: "edit",
    # "delete". A message's current state: `edited_at`, `deleted` (content erased).
    kind: Mapped[str] = mapped_column(String(8), default="message", server_default="message")
    target_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The room's `message_count` through this row: unread = count - number at the marker.
    number: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        # "My messages after my read marker", for unread counts (messages, not events).
        Index(
            "ix_messages_room_id_user_id_seq",
            "room_id",
            "user_id",
            "seq",
            sqlite_where=text("kind = 'message'"),
            postgresql_where=text("kind = 'message'"),
        ),
        # A client's idempotency key is stored once per user and room.
        Index(
            "uq_messages_room_id_user_id_client_id",
            "room_id",
            "user_id",
            "client_id",
            unique=True,
            sqlite_where=text("client_id IS NOT NULL"),
            postgresql_where=text("client_id IS NOT NULL"),
        ),
    )
