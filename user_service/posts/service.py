"""Post rules: anyone signed in writes and reads posts and replies to them; only the author
deletes one. Mentions and tags are found when a post is written and stored with it.

Nobody replies to, likes or reposts a post across a block, either way (403, in
`require_post`); taking a like or repost back stays possible.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.blocks import blocked_either_way
from shared.errors import Forbidden, NotFound
from shared.pagination import Page, decode_id_cursor, split_page
from shared.people import PersonEvent, publish_after_commit
from shared.sessions import SessionUser
from user_service.accounts.service import require_user
from user_service.notifications.service import Notice, notify
from user_service.posts import queries
from user_service.posts.entities import find_mentions, find_tags
from user_service.posts.items import post_items, post_page, posts_shown
from user_service.posts.schemas import PostOut, ThreadOut, TombstoneOut

NO_SUCH_POST = "no such post"
ACROSS_A_BLOCK = "a block stands between you and this post's author"


async def create_post(
    db: AsyncSession, *, author: SessionUser, content: str, in_reply_to: int | None = None
) -> PostOut:
    """`content` arrives trimmed and checked by `PostIn`. A reply counts on its parent in
    the same transaction (404 when the parent does not exist or is deleted meanwhile); a
    reply across a block, either way, is 403."""
    parent_author_id = None
    if in_reply_to is not None:
        parent_author_id = await require_post(db, post_id=in_reply_to, actor_id=author.id)
    post = await queries.insert_post(
        db, author_id=author.id, content=content, in_reply_to_id=in_reply_to
    )
    if in_reply_to is not None and not await queries.count_reply(db, post_id=in_reply_to, delta=1):
        raise NotFound(NO_SUCH_POST)
    mentioned = await _store_mentions(db, post_id=post.id, content=content)
    await queries.insert_tags(db, post_id=post.id, tags=find_tags(content))
    notices = []
    if parent_author_id is not None:
        notices.append(Notice(user_id=parent_author_id, kind="reply", post_id=post.id))
    notices += [
        Notice(user_id=user_id, kind="mention", post_id=post.id)
        for user_id in mentioned
        if user_id != parent_author_id  # the reply notification says it already
    ]
    await notify(db, actor_id=author.id, notices=notices)
    event = {
        "type": "post",
        "post_id": post.id,
        "author_id": author.id,
        "author_username": author.username,
    }
    publish_after_commit(db, PersonEvent(user_ids=(), event=event, followers_of=author.id))
    return await get_post(db, viewer_id=author.id, post_id=post.id)


async def require_post(db: AsyncSession, *, post_id: int, actor_id: int | None = None) -> int:
    """The author of a post (a reply's parent, one liked or reposted); 404 for no such post,
    a deleted one, or the id of a repost; 403 when a block stands between its author and
    `actor_id` (who is about to reply, like or repost), whoever made it."""
    author_id = await queries.find_author_id(db, post_id=post_id)
    if author_id is None:
        raise NotFound(NO_SUCH_POST)
    if actor_id is not None and await blocked_either_way(db, user_id=actor_id, other_id=author_id):
        raise Forbidden(ACROSS_A_BLOCK)
    return author_id


async def _store_mentions(db: AsyncSession, *, post_id: int, content: str) -> list[int]:
    """Stores the `@name`s that name users; an unknown name stays plain text. The ids of
    the users mentioned."""
    found = find_mentions(content)
    users = await queries.users_named(db, names=[mention.name for mention in found])
    stored = [
        (mention.start, mention.end, users[mention.name.lower()][0])
        for mention in found
        if mention.name.lower() in users
    ]
    await queries.insert_mentions(db, post_id=post_id, mentions=stored)
    return list(dict.fromkeys(user_id for _, _, user_id in stored))


async def get_post(db: AsyncSession, *, viewer_id: int, post_id: int) -> PostOut:
    row = await queries.find_post(db, post_id=post_id, viewer_id=viewer_id)
    if row is None:
        raise NotFound(NO_SUCH_POST)
    (post,) = post_items([row])
    return post


async def delete_post(db: AsyncSession, *, user: SessionUser, post_id: int) -> None:
    """Only the author may delete a post; anyone else learns only that it exists (403).

    Its likes, reposts, mentions, tags and notifications go with it; a post with replies
    leaves a tombstone so that its thread holds together."""
    author_id = await queries.find_author_id(db, post_id=post_id)
    if author_id is None:
        raise NotFound(NO_SUCH_POST)
    if author_id != user.id:
        raise Forbidden("only the author may delete a post")
    deleted = await queries.delete_post(db, post_id=post_id)
    if deleted is None:  # a concurrent delete got there first
        return
    if deleted.in_reply_to_id is not None:
        await queries.count_reply(db, post_id=deleted.in_reply_to_id, delta=-1)
    if deleted.reply_count > 0:
        await queries.insert_tombstone(db, post_id=post_id, in_reply_to_id=deleted.in_reply_to_id)


async def author_posts(
    db: AsyncSession, *, viewer: SessionUser, author_id: int, cursor: str | None, limit: int
) -> Page[PostOut]:
    """One user's posts and reposts, newest first; 404 for an unknown user rather than an
    empty page, and an empty page while a block stands between the viewer and the author."""
    before = decode_id_cursor(cursor)
    await require_user(db, user_id=author_id)
    if await blocked_either_way(db, user_id=viewer.id, other_id=author_id):
        return Page[PostOut](items=[], next_cursor=None)
    rows = await queries.author_posts(
        db, author_id=author_id, viewer_id=viewer.id, before=before, limit=limit
    )
    return post_page(rows, limit=limit)


async def thread(
    db: AsyncSession, *, viewer: SessionUser, post_id: int, cursor: str | None, limit: int
) -> ThreadOut:
    """The post (or its tombstone), its ancestors root first, and a page of its direct
    replies oldest first; 404 when the post never existed or left no tombstone."""
    after = decode_id_cursor(cursor)
    chain = await queries.ancestor_ids(db, parent_id=post_id)
    if not chain:
        raise NotFound(NO_SUCH_POST)
    posts = await posts_shown(db, post_ids=chain, viewer_id=viewer.id)
    tombstones = {
        row.id: TombstoneOut(id=row.id, in_reply_to=row.in_reply_to_id)
        for row in await queries.tombstones_by_id(db, post_ids=[i for i in chain if i not in posts])
    }
    nodes = [posts.get(i) or tombstones[i] for i in chain if i in posts or i in tombstones]
    reply_posts, reply_tombstones = await queries.reply_rows(
        db, post_id=post_id, viewer_id=viewer.id, after=after, limit=limit
    )
    replies: list[PostOut | TombstoneOut] = [
        *post_items(reply_posts),
        *(TombstoneOut(id=row.id, in_reply_to=row.in_reply_to_id) for row in reply_tombstones),
    ]
    replies.sort(key=lambda node: node.id)
    served, next_cursor = split_page(replies, limit=limit, key=lambda node: (node.id,))
    return ThreadOut(
        ancestors=nodes[:0:-1],
        post=nodes[0],
        replies=Page[PostOut | TombstoneOut](items=list(served), next_cursor=next_cursor),
    )
