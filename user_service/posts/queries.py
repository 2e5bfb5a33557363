"""SQL for posts. Posts are ordered by id: ids grow with time, so `id DESC` is newest first
and `(author_id, id)` (index `ix_posts_author_id_id`) serves one author's posts in order.

A timeline is a list of *events*: posts and reposts (rows of `posts` with `repost_of_id`).
`event_items` turns a page of event ids into what the client sees: the post shown (the
reposted one for a repost) with its counts, whether the viewer liked and reposted it, and
who reposted it. Every list query selects event ids through an index and hands them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Subquery,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from shared.models import Post, PostLike, PostMention, PostTag, PostTombstone, User, utcnow
from shared.pagination import AnyRow, AnySelect, page_rows
from user_service.blocks.queries import hidden_authors

# Aliases are made once: a new alias re-derives every column of `posts` when first used,
# which cost more than the rest of building a feed query.
Event = aliased(Post, name="event")
Reposter = aliased(User, name="reposter")
Mine = aliased(Post, name="mine")
Newer = aliased(Post, name="newer")
Original = aliased(Post, name="original")

# A thread shows at most this many ancestors (the nearest ones).
MAX_ANCESTORS = 100

# Who may appear in a timeline, as a condition on an author id column.
Authors = Callable[[Any], ColumnElement[bool]]


def mentions_sql(post_id: str) -> str:
    """The mentions of post `post_id` (an SQL expression) as a JSON array, in the order they
    appear (the primary key of `post_mentions`); NULL when there are none. PostgreSQL.
    `post_id` is SQL this module writes (a column), never a value from a request."""
    return f"""(SELECT json_agg(json_build_object('user_id', pm.user_id, 'username', pmu.username,
                                       'start', pm.char_start, 'end', pm.char_end)
                     ORDER BY pm.char_start)
     FROM post_mentions AS pm JOIN users AS pmu ON pmu.id = pm.user_id
     WHERE pm.post_id = {post_id})"""  # noqa: S608


class mentions_json(FunctionElement[str]):
    """The mentions of a post as a JSON array, read with the post: a probe of the primary
    key of `post_mentions` per row shown, in the same query (a separate query for a page's
    mentions was a fifth of a feed page's CPU)."""

    type = String()
    inherit_cache = True


@compiles(mentions_json, "postgresql")
def _mentions_json_postgresql(element: mentions_json, compiler: SQLCompiler, **kw: Any) -> str:
    return mentions_sql(compiler.process(element.clauses, **kw))


@compiles(mentions_json, "sqlite")
def _mentions_json_sqlite(element: mentions_json, compiler: SQLCompiler, **kw: Any) -> str:
    post_id = compiler.process(element.clauses, **kw)
    return f"""(SELECT json_group_array(json_object('user_id', m.user_id, 'username', m.username,
                                                'start', m.char_start, 'end', m.char_end))
     FROM (SELECT pm.user_id, pmu.username, pm.char_start, pm.char_end
           FROM post_mentions AS pm JOIN users AS pmu ON pmu.id = pm.user_id
           WHERE pm.post_id = {post_id} ORDER BY pm.char_start) AS m)"""  # noqa: S608


def _shown_columns(*, viewer_id: int | ColumnElement[int]) -> list[Any]:
    """What `PostOut` shows of `Post`: two primary-key probes per row answer liked and
    reposted. They are counts (0 or 1), not EXISTS: PostgreSQL may turn an EXISTS into a
    hash of everything the viewer ever liked, which grows with them; a count stays a probe."""
    liked = (
        select(func.count())
        .select_from(PostLike)
        .where(PostLike.post_id == Post.id, PostLike.user_id == viewer_id)
        .scalar_subquery()
        > 0
    )
    reposted = (
        select(func.count())
        .select_from(Mine)
        .where(Mine.repost_of_id == Post.id, Mine.author_id == viewer_id)
        .scalar_subquery()
        > 0
    )
    return [
        Post.id,
        Post.author_id,
        User.username.label("author_username"),
        Post.content,
        Post.created_at,
        Post.in_reply_to_id.label("in_reply_to"),
        Post.reply_count.label("replies"),
        Post.like_count.label("likes"),
        Post.repost_count.label("reposts"),
        liked.label("liked"),
        reposted.label("reposted"),
        mentions_json(Post.id).label("mentions"),
    ]


def post_columns(*, viewer_id: int | ColumnElement[int]) -> AnySelect:
    """Posts (never reposts) as `PostOut` shows them, the author's name by primary key."""
    return (
        select(*_shown_columns(viewer_id=viewer_id), Post.id.label("event_id"))
        .join(User, User.id == Post.author_id)
        .where(Post.repost_of_id.is_(None))
    )


def event_items(*, viewer_id: int | ColumnElement[int], events: Subquery) -> AnySelect:
    """The posts the events `events.c.id` show, newest event first: each event's row by
    primary key, the post it shows by primary key (itself, or the one it reposts)."""
    return (
        select(
            *_shown_columns(viewer_id=viewer_id),
            Event.id.label("event_id"),
            Reposter.id.label("reposted_by_id"),
            Reposter.username.label("reposted_by_username"),
            case((Event.repost_of_id.is_not(None), Event.created_at)).label("reposted_at"),
        )
        .select_from(events)
        .join(Event, Event.id == events.c.id)
        .join(Post, Post.id == func.coalesce(Event.repost_of_id, Event.id))
        .join(User, User.id == Post.author_id)
        .outerjoin(Reposter, and_(Event.repost_of_id.is_not(None), Reposter.id == Event.author_id))
        .order_by(Event.id.desc())
    )


def shown_once(event: Any, authors: Authors) -> ColumnElement[bool]:
    """True unless the post `event` shows was reposted later by one of `authors`: a post
    appears once in a timeline, at its newest repost (the unique index on
    (repost_of_id, author_id) answers it).

    A post nobody reposted needs no look: `repost_count` (which the author index carries on
    PostgreSQL) says so, and the OR is evaluated in order, so most rows cost nothing."""
    newer_repost = (
        select(Newer.id)
        .where(
            Newer.repost_of_id == func.coalesce(event.repost_of_id, event.id),
            authors(Newer.author_id),
            Newer.id > event.id,
        )
        .exists()
    )
    never_reposted = and_(event.repost_of_id.is_(None), event.repost_count == 0)
    return or_(never_reposted, ~newer_repost)


def shows_allowed_author(event: Any, *, hidden: AnySelect) -> ColumnElement[bool]:
    """False for a repost of a post whose author is in `hidden` (ids): someone the viewer
    muted or is across a block with stays out of their lists however it gets there, as
    Mastodon hides boosts of muted accounts. A post needs no look (its author is filtered
    where the list picks authors); a repost costs one primary-key probe of its original,
    and the OR is evaluated in order."""
    original_author = (
        select(Original.author_id).where(Original.id == event.repost_of_id).scalar_subquery()
    )
    return or_(event.repost_of_id.is_(None), original_author.not_in(hidden))


async def insert_post(
    db: AsyncSession, *, author_id: int, content: str, in_reply_to_id: int | None
) -> Post:
    post = Post(author_id=author_id, content=content, in_reply_to_id=in_reply_to_id)
    db.add(post)
    await db.flush()
    return post


async def count_reply(db: AsyncSession, *, post_id: int, delta: int) -> bool:
    """Adds `delta` to a post's reply count under its row lock; False when the post is
    gone (deleted meanwhile)."""
    result = await db.execute(
        update(Post)
        .where(Post.id == post_id, Post.repost_of_id.is_(None))
        .values(reply_count=Post.reply_count + delta)
    )
    return bool(getattr(result, "rowcount", 0))


async def insert_mentions(db: AsyncSession, *, post_id: int, mentions: Sequence[Any]) -> None:
    """`mentions`: (char_start, char_end, user_id) triples."""
    if mentions:
        await db.execute(
            insert(PostMention),
            [
                {"post_id": post_id, "char_start": start, "char_end": end, "user_id": user_id}
                for start, end, user_id in mentions
            ],
        )


async def insert_tags(db: AsyncSession, *, post_id: int, tags: Sequence[str]) -> None:
    if tags:
        await db.execute(insert(PostTag), [{"tag": tag, "post_id": post_id} for tag in tags])


async def users_named(db: AsyncSession, *, names: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Lower-cased name -> (id, username) for the names that exist (`uq_users_username_lower`)."""
    if not names:
        return {}
    key = func.lower(User.username)
    rows = await db.execute(
        select(key, User.id, User.username).where(key.in_({n.lower() for n in names}))
    )
    return {lowered: (user_id, username) for lowered, user_id, username in rows.all()}


# Built once (every like, repost and reply runs both); the ids are bound at execution.
_POST_ID = bindparam("post_id", type_=BigInteger)
_VIEWER_ID = bindparam("viewer_id", type_=BigInteger)
_FIND_POST = post_columns(viewer_id=_VIEWER_ID).where(Post.id == _POST_ID)
_FIND_AUTHOR_ID = select(Post.author_id).where(Post.id == _POST_ID, Post.repost_of_id.is_(None))


# `post_columns` and the post's mentions as SQL text, for the one-statement writes that
# answer the post: `shown` is the post's row, `shown_author` its author's; :user_id the
# viewer, whose `liked` (and the like count) the write decides. The mentions come as a
# JSON array (PostgreSQL only).
SHOWN_POST_SQL = f"""shown.id, shown.author_id, shown_author.username AS author_username,
    false AS liked,
    shown.content, shown.created_at, shown.in_reply_to_id AS in_reply_to,
    shown.reply_count AS replies, shown.like_count AS likes, shown.repost_count AS reposts,
    EXISTS (SELECT 1 FROM posts AS mine
            WHERE mine.repost_of_id = shown.id AND mine.author_id = :user_id) AS reposted,
    {mentions_sql("shown.id")} AS mentions"""  # noqa: S608


async def find_post(db: AsyncSession, *, post_id: int, viewer_id: int) -> AnyRow | None:
    values = {_POST_ID.key: post_id, _VIEWER_ID.key: viewer_id}
    return (await db.execute(_FIND_POST, values)).one_or_none()


async def find_author_id(db: AsyncSession, *, post_id: int) -> int | None:
    """The author of a post (not a repost); None when there is no such post."""
    author_id: int | None = await db.scalar(_FIND_AUTHOR_ID, {_POST_ID.key: post_id})
    return author_id


async def delete_post(db: AsyncSession, *, post_id: int) -> AnyRow | None:
    """Deletes the post; its likes, reposts, mentions, tags and notifications go with it
    (foreign keys). Its parent and reply count as they were, or None when already gone."""
    result = await db.execute(
        delete(Post).where(Post.id == post_id).returning(Post.in_reply_to_id, Post.reply_count)
    )
    return result.one_or_none()


async def insert_tombstone(db: AsyncSession, *, post_id: int, in_reply_to_id: int | None) -> None:
    db.add(PostTombstone(id=post_id, in_reply_to_id=in_reply_to_id, deleted_at=utcnow()))
    await db.flush()


def author_posts_statement(
    *, author_id: int, viewer_id: int, before: int | None, limit: int
) -> AnySelect:
    """One author's posts and reposts, newest first, older than event `before`: a backward
    range scan of `ix_posts_author_id_id`. Their reposts of posts by someone the viewer
    muted or is across a block with are left out."""

    def by_author(column: Any) -> ColumnElement[bool]:
        return column == author_id  # type: ignore[no-any-return]

    events = select(Event.id).where(
        Event.author_id == author_id,
        shows_allowed_author(Event, hidden=hidden_authors(viewer_id)),
        shown_once(Event, by_author),
    )
    if before is not None:
        events = events.where(Event.id < before)
    page = events.order_by(Event.id.desc()).limit(page_rows(limit)).subquery("page")
    return event_items(viewer_id=viewer_id, events=page)


async def author_posts(
    db: AsyncSession, *, author_id: int, viewer_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    statement = author_posts_statement(
        author_id=author_id, viewer_id=viewer_id, before=before, limit=limit
    )
    return (await db.execute(statement)).all()


def _thread_nodes() -> Subquery:
    """Posts and tombstones alike: an id and its parent."""
    return union_all(
        select(Post.id, Post.in_reply_to_id).where(Post.repost_of_id.is_(None)),
        select(PostTombstone.id, PostTombstone.in_reply_to_id),
    ).subquery("node")


async def ancestor_ids(db: AsyncSession, *, parent_id: int) -> list[int]:
    """The ids from `parent_id` up to the thread's root (nearest first, at most
    `MAX_ANCESTORS`), in one recursive query; each step is a primary-key lookup."""
    node = _thread_nodes()
    chain = (
        select(node.c.id, node.c.in_reply_to_id, literal(1).label("depth"))
        .where(node.c.id == parent_id)
        .cte("chain", recursive=True)
    )
    step = _thread_nodes()
    chain = chain.union_all(
        select(step.c.id, step.c.in_reply_to_id, chain.c.depth + 1)
        .join(chain, step.c.id == chain.c.in_reply_to_id)
        .where(chain.c.depth < MAX_ANCESTORS)
    )
    rows = await db.execute(select(chain.c.id).order_by(chain.c.depth))
    return list(rows.scalars())


_POSTS_BY_ID = post_columns(viewer_id=_VIEWER_ID).where(
    Post.id.in_(bindparam("post_ids", expanding=True))
)


async def posts_by_id(db: AsyncSession, *, post_ids: Sequence[int], viewer_id: int) -> list[AnyRow]:
    """Built once (every notifications page and thread runs it); the ids expand at execution."""
    if not post_ids:
        return []
    values = {"post_ids": sorted(set(post_ids)), _VIEWER_ID.key: viewer_id}
    return list((await db.execute(_POSTS_BY_ID, values)).all())


async def tombstones_by_id(db: AsyncSession, *, post_ids: Sequence[int]) -> list[AnyRow]:
    if not post_ids:
        return []
    statement = select(PostTombstone.id, PostTombstone.in_reply_to_id).where(
        PostTombstone.id.in_(set(post_ids))
    )
    return list((await db.execute(statement)).all())


async def reply_rows(
    db: AsyncSession, *, post_id: int, viewer_id: int, after: int | None, limit: int
) -> tuple[list[AnyRow], list[AnyRow]]:
    """The first `limit + 1` direct replies after id `after`, oldest first, from posts
    (`ix_posts_in_reply_to_id_id`) and from tombstones (`ix_post_tombstones_in_reply_to_id_id`);
    the caller merges the two. Replies by someone the viewer muted or is across a block with
    are left out."""
    replies = post_columns(viewer_id=viewer_id).where(
        Post.in_reply_to_id == post_id, Post.author_id.not_in(hidden_authors(viewer_id))
    )
    deleted = select(PostTombstone.id, PostTombstone.in_reply_to_id).where(
        PostTombstone.in_reply_to_id == post_id
    )
    if after is not None:
        replies = replies.where(Post.id > after)
        deleted = deleted.where(PostTombstone.id > after)
    posts = (await db.execute(replies.order_by(Post.id).limit(limit + 1))).all()
    tombstones = (await db.execute(deleted.order_by(PostTombstone.id).limit(limit + 1))).all()
    return list(posts), list(tombstones)
