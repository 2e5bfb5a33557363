"""SQL for the home timeline: posts and reposts by the reader and by everyone they follow,
by id descending (newest first), without ever reading the follow list into Python.

A post appears once: at its newest repost by one of those people, or as itself when
nobody among them reposted it later (`shown_once`: one probe of the unique index on
(repost_of_id, author_id) per candidate). The reader's own posts reposted by people they
follow appear as reposts.

No single plan is good for every reader, so PostgreSQL gets two (measured with 1,000,000
posts and 1,000 followees):
- `window_statement`: walk the newest posts backwards by primary key, keeping those whose
  author is followed (a hashed set of the reader's follows). About 0.7 ms when the
  followees wrote a fair share of recent posts, but it reads the whole table when they are
  quiet; so it only looks at the newest `RECENT_WINDOW` post ids.
- `per_author_statement`: each followed author's (and the reader's) newest post from
  `ix_posts_author_id_id` (index-only: the index carries `repost_of_id`), then the newest
  posts of only the page-size authors whose newest is newest, merged and cut to a page.
  Its cost is one index probe per followee plus page size squared rows, whatever the data
  (about 1.5 ms for 1,000 followees).
The window answers the page when it holds a full one; otherwise the per-author plan does.
A reader whose window fell short goes straight to the per-author plan for the next
`QUIET_HINT_SECONDS` (`_quiet_readers`): the window's walk found nothing for them and cost
about half as much again as the per-author page (EXPLAIN ANALYZE, 1,000 quiet followees).
Either plan gives the same page, so a stale hint costs time, never correctness.
SQLite (the embedded, single-node database) has no LATERAL and runs the unwindowed walk.

The authors someone does not want to see (muted, or across a block) are filtered in
`_feed_authors`, the one condition every plan here uses, and a repost of a post by one of
them is dropped by `shows_allowed_author` (one primary-key probe, for reposts only).

Each statement is built once per shape (plan, first page or not, page size) with the reader
and the cursor as bound parameters (`_statement`): building one took about twice the CPU of
the rest of the request. The SQL is the same as when built with the values.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import on_postgresql
from shared.models import Post, UserFollower
from shared.pagination import AnyRow, AnySelect, page_rows
from user_service.blocks.queries import hidden_authors
from user_service.posts.queries import Event, event_items, shown_once, shows_allowed_author

# Post ids the first attempt looks back over: at most this many rows read (about 2 ms).
RECENT_WINDOW = 10_000

# An id given now (an int) or at execution (a bound parameter of a cached statement).
Id = int | ColumnElement[int]


def _followees(user_id: Id) -> AnySelect:
    return select(UserFollower.following_id).where(UserFollower.follower_id == user_id)


def _feed_authors(user_id: Id) -> Any:
    """Whose posts and reposts make `user_id`'s timeline, as a condition on an author id:
    the reader and those they follow, less those muted or across a block (a block ends
    follows, but a follow racing the block must not show through)."""

    def authors(column: Any) -> ColumnElement[bool]:
        return and_(
            or_(column == user_id, column.in_(_followees(user_id))),
            column.not_in(hidden_authors(user_id)),
        )

    return authors


def window_statement(
    *, user_id: Id, before: Id | None, limit: int, window: int | None
) -> AnySelect:
    """`limit + 1` newest feed events older than `before` among the `window` ids below it
    (below the newest post when `before` is None); the whole table when `window` is None."""
    authors = _feed_authors(user_id)
    events = select(Event.id).where(
        authors(Event.author_id),
        shows_allowed_author(Event, hidden=hidden_authors(user_id)),
        shown_once(Event, authors),
    )
    if before is not None:
        events = events.where(Event.id < before)
    if window is not None:
        top = before if before is not None else select(func.max(Post.id) + 1).scalar_subquery()
        events = events.where(Event.id >= top - window)
    page = events.order_by(Event.id.desc()).limit(page_rows(limit)).subquery("page")
    return event_items(viewer_id=user_id, events=page)


def per_author_statement(*, user_id: Id, before: Id | None, limit: int) -> AnySelect:
    """`limit + 1` newest feed events older than `before`, in two steps over
    `ix_posts_author_id_id` (index-only scans). PostgreSQL only (LATERAL).

    1. Each author's newest shown event (one row per author), and the `limit + 1` authors
       whose newest is newest. Only they can be on the page: an event of any other author
       is older than those `limit + 1` authors' newest events, so at least `limit + 1`
       events come before it.
    2. Those authors' newest `limit + 1` shown events, merged and cut to a page, whose rows
       are then fetched by primary key.
    Reading every author's `limit + 1` newest events instead read eight times the index
    rows for 1,000 quiet followees (2.2 against 1.5 ms of PostgreSQL, `bench/TUNING.md`)."""
    feed_authors = union_all(
        _followees(user_id).where(UserFollower.following_id.not_in(hidden_authors(user_id))),
        select(literal(user_id, BigInteger) if isinstance(user_id, int) else user_id),
    ).subquery("authors")

    def shown_by(author_id: Any) -> AnySelect:
        """`author_id`'s events the reader is shown, older than `before`, newest first."""
        events = select(Event.id).where(
            Event.author_id == author_id,
            shows_allowed_author(Event, hidden=hidden_authors(user_id)),
            shown_once(Event, _feed_authors(user_id)),
        )
        if before is not None:
            events = events.where(Event.id < before)
        return events.order_by(Event.id.desc())

    author_id = feed_authors.c[0]
    newest = shown_by(author_id).limit(1).scalar_subquery()
    leads = select(author_id.label("author_id"), newest.label("newest")).subquery("leads")
    leaders = (
        select(leads.c.author_id)
        .order_by(leads.c.newest.desc().nulls_last())  # NULL: nothing shown by them
        .limit(page_rows(limit))
        .subquery("leaders")
    )
    per_author = shown_by(leaders.c.author_id).limit(page_rows(limit)).lateral("per_author")
    page = (
        select(per_author.c.id)
        .select_from(leaders)
        .join(per_author, true())
        .order_by(per_author.c.id.desc())
        .limit(page_rows(limit))
        .subquery("page")
    )
    return event_items(viewer_id=user_id, events=page)


# Readers (id -> when) whose recent window last fell short, oldest first; bounded.
QUIET_HINT_SECONDS = 30.0
QUIET_READERS_KEPT = 10_000
_quiet_readers: dict[int, float] = {}


def _is_quiet(user_id: int) -> bool:
    since = _quiet_readers.get(user_id)
    if since is None:
        return False
    if time.monotonic() - since < QUIET_HINT_SECONDS:
        return True
    del _quiet_readers[user_id]
    return False


def _note_quiet(user_id: int) -> None:
    _quiet_readers.pop(user_id, None)
    if len(_quiet_readers) >= QUIET_READERS_KEPT:
        del _quiet_readers[next(iter(_quiet_readers))]
    _quiet_readers[user_id] = time.monotonic()


_READER = bindparam("feed_reader_id", type_=BigInteger)
_BEFORE = bindparam("feed_before", type_=BigInteger)
Plan = Literal["whole", "window", "per_author"]


@functools.lru_cache(maxsize=1024)  # 3 plans x first page or not x 100 page sizes at most
def _statement(plan: Plan, *, paged: bool, limit: int) -> AnySelect:
    """One shape of feed statement, built once; `_READER` and `_BEFORE` bound at execution."""
    before = _BEFORE if paged else None
    if plan == "per_author":
        return per_author_statement(user_id=_READER, before=before, limit=limit)
    window = RECENT_WINDOW if plan == "window" else None
    return window_statement(user_id=_READER, before=before, limit=limit, window=window)


async def feed(
    db: AsyncSession, *, user_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    """At most `limit + 1` rows (the extra one tells whether another page exists)."""
    values = {_READER.key: user_id}
    if before is not None:
        values[_BEFORE.key] = before

    async def run(plan: Plan) -> Sequence[AnyRow]:
        statement = _statement(plan, paged=before is not None, limit=limit)
        return (await db.execute(statement, values)).all()

    if not on_postgresql(db):
        return await run("whole")
    if not _is_quiet(user_id):
        recent = await run("window")
        if len(recent) > limit:  # a full page inside the window: nothing older can be newer
            return recent
        _note_quiet(user_id)
    return await run("per_author")
