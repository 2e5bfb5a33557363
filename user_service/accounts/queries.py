"""SQL on `users` for existence checks and deletion."""

from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.models import Message, Post, PostLike, PostTombstone, User, UTCDateTime, utcnow

_USER_EXISTS = select(User.id).where(User.id == bindparam("user_id", type_=BigInteger))


async def user_exists(db: AsyncSession, *, user_id: int) -> bool:
    """One primary-key lookup (the statement built once: every follow runs it)."""
    return await db.scalar(_USER_EXISTS, {"user_id": user_id}) is not None


async def delete_user(db: AsyncSession, *, user_id: int) -> bool:
    """Deletes the user row; the foreign keys cascade to their sessions, follows in both
    directions, posts, blocks, mutes, room memberships and invitations, and set
    `messages.user_id`, `rooms.created_by`, `room_bans.banned_by` and
    `room_invites.inviter_id` to NULL. True when a row was deleted (False when a concurrent
    deletion got there first)."""
    result = await db.execute(delete(User).where(User.id == user_id))
    return bool(getattr(result, "rowcount", 0))


async def erase_chat_messages(db: AsyncSession, *, user_id: int) -> None:
    """Before the user goes: their chat messages become tombstones (content erased), and the
    foreign key then clears their author. The rows stay so that every room's sequence keeps
    no holes and its message counts stay exact. Read through `ix_messages_user_id`."""
    await db.execute(
        update(Message)
        .where(Message.user_id == user_id)
        .values(content="", deleted=True, client_id=None)
    )


async def uncount_activity(db: AsyncSession, *, user_id: int) -> None:
    """Before the user goes: takes their likes, reposts and replies off the counts of other
    people's posts (the rows themselves go with the user, by foreign key), and leaves a
    tombstone for each of their posts that has replies, so those threads hold together.
    Each statement reads the user's rows through an index (`ix_post_likes_user_id_post_id`,
    `ix_posts_author_id_id`)."""
    theirs = aliased(Post, name="theirs")
    await db.execute(
        update(Post)
        .where(Post.id.in_(select(PostLike.post_id).where(PostLike.user_id == user_id)))
        .values(like_count=Post.like_count - 1)
    )
    await db.execute(
        update(Post)
        .where(
            Post.id.in_(
                select(theirs.repost_of_id).where(
                    theirs.author_id == user_id, theirs.repost_of_id.is_not(None)
                )
            )
        )
        .values(repost_count=Post.repost_count - 1)
    )
    replies_by_them = (
        select(func.count())
        .select_from(theirs)
        .where(theirs.in_reply_to_id == Post.id, theirs.author_id == user_id)
        .scalar_subquery()
    )
    await db.execute(
        update(Post)
        .where(
            Post.id.in_(
                select(theirs.in_reply_to_id).where(
                    theirs.author_id == user_id, theirs.in_reply_to_id.is_not(None)
                )
            )
        )
        .values(reply_count=Post.reply_count - replies_by_them)
    )
    await db.execute(
        insert(PostTombstone).from_select(
            ["id", "in_reply_to_id", "deleted_at"],
            select(Post.id, Post.in_reply_to_id, literal(utcnow(), UTCDateTime)).where(
                Post.author_id == user_id, Post.reply_count > 0, Post.repost_of_id.is_(None)
            ),
        )
    )
