"""Every list (and the profile counts) is served by an index on PostgreSQL, never by reading
a whole table: checked with EXPLAIN on a seeded, ANALYZEd database, for the plan PostgreSQL
makes when it knows the values and for the generic plan, which the services' connections
always run (`plan_cache_mode`, set in `shared/database.py`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest
import pytest_asyncio
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.database import create_engine
from shared.notifications import unread_statement
from shared.pagination import AnySelect
from shared.settings import Settings
from user_service.feed.queries import RECENT_WINDOW, per_author_statement, window_statement
from user_service.follows.queries import follow_list_statement
from user_service.likes.queries import likers_statement
from user_service.notifications.queries import inbox_statement
from user_service.posts.queries import author_posts_statement
from user_service.profiles.queries import profile_statement, search_statement
from user_service.tags.queries import tag_posts_statement

# The seed is made once per module, so the tests share the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

WATCHED = {"posts", "user_followers", "users", "post_likes", "post_tags", "notifications"}
SEEDED_USERS = 3_000
SEEDED_POSTS = 30_000
FOLLOWS_EACH = 5  # every seeded user follows the next five
READER_FOLLOWS = 300


@dataclass(frozen=True)
class Seed:
    tag: str
    first_id: int  # the reader: follows READER_FOLLOWS users besides the next five
    middle_id: int
    newest_post_id: int


@pytest.fixture(scope="module")
def postgresql_only(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("query plans are checked on PostgreSQL")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seed(postgresql_only: None, settings: Settings) -> AsyncIterator[Seed]:
    """Thousands of users, posts and follows in SQL (seconds, not minutes), then ANALYZE, so
    that the planner's choices are the ones it makes on a real database."""
    tag = secrets.token_hex(3)
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            made = await conn.execute(
                text(
                    "WITH made AS (INSERT INTO users (username, email, password_hash, created_at)"
                    " SELECT 'pl' || :tag || '_' || g, 'pl' || :tag || '_' || g || "
                    "'@example.com', 'x', now() FROM generate_series(1, CAST(:n AS int)) g"
                    " RETURNING id) SELECT min(id), max(id) FROM made"
                ),
                {"tag": tag, "n": SEEDED_USERS},
            )
            first, last = made.one()
            assert last - first == SEEDED_USERS - 1  # one statement: consecutive ids
            ids = {"first": first, "last": last, "n": SEEDED_USERS}
            # Posts spread over every seeded author.
            await conn.execute(
                text(
                    "INSERT INTO posts (author_id, content, created_at) "
                    "SELECT CAST(:first AS bigint) + (g * 7919) % CAST(:n AS int), "
                    "'seeded post ' || g, now() FROM generate_series(1, CAST(:posts AS int)) g"
                ),
                {**ids, "posts": SEEDED_POSTS},
            )
            # Everyone follows the next few; the first user also follows hundreds more.
            await conn.execute(
                text(
                    "INSERT INTO user_followers (follower_id, following_id, created_at) "
                    "SELECT u, CAST(:first AS bigint) + (u - CAST(:first AS bigint) + k) "
                    "% CAST(:n AS int), now() "
                    "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) u, "
                    "generate_series(1, CAST(:each AS int)) k"
                ),
                {**ids, "each": FOLLOWS_EACH},
            )
            await conn.execute(
                text(
                    "INSERT INTO user_followers (follower_id, following_id, created_at) "
                    "SELECT CAST(:first AS bigint), CAST(:first AS bigint) + g * 7, now() "
                    "FROM generate_series(1, CAST(:k AS int)) g"
                ),
                {**ids, "k": READER_FOLLOWS},
            )
            # Reposts of recent posts by everyone, and the reader mutes and blocks a few of
            # the people they follow (and is blocked by some), so the filters have rows to read.
            await conn.execute(
                text(
                    "INSERT INTO posts (author_id, content, created_at, repost_of_id) "
                    "SELECT CAST(:first AS bigint) + (g * 31) % CAST(:n AS int), '', now(), "
                    "p.id FROM generate_series(1, 3000) g JOIN posts p ON p.id = ("
                    "SELECT max(id) FROM posts) - g * 3 ON CONFLICT DO NOTHING"
                ),
                ids,
            )
            await conn.execute(
                text(
                    "UPDATE posts SET repost_count = r.n FROM (SELECT repost_of_id, count(*) n"
                    " FROM posts WHERE repost_of_id IS NOT NULL GROUP BY repost_of_id) r"
                    " WHERE posts.id = r.repost_of_id"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO user_mutes (muter_id, muted_id, created_at) "
                    "SELECT CAST(:first AS bigint), CAST(:first AS bigint) + g * 7, now() "
                    "FROM generate_series(1, 20) g"
                ),
                ids,
            )
            await conn.execute(
                text(
                    "INSERT INTO user_blocks (blocker_id, blocked_id, created_at) "
                    "SELECT CASE WHEN g % 2 = 0 THEN CAST(:first AS bigint) "
                    "ELSE CAST(:first AS bigint) + 1000 + g END, "
                    "CASE WHEN g % 2 = 0 THEN CAST(:first AS bigint) + 1000 + g "
                    "ELSE CAST(:first AS bigint) END, now() FROM generate_series(1, 20) g"
                ),
                ids,
            )
            newest = await conn.scalar(text("SELECT max(id) FROM posts WHERE repost_of_id IS NULL"))
            # Likes on the newest posts, a tag on every third post, notifications for all.
            await conn.execute(
                text(
                    "INSERT INTO post_likes (post_id, user_id, created_at) "
                    "SELECT CAST(:newest AS bigint) - g % 1000, "
                    "CAST(:first AS bigint) + g % CAST(:n AS int), now() "
                    "FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING"
                ),
                {**ids, "newest": newest},
            )
            await conn.execute(
                text(
                    "INSERT INTO post_tags (tag, post_id) SELECT CASE WHEN id % 3 = 0 "
                    "THEN 'seeded' ELSE 'other' || id % 100 END, id FROM posts"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO notifications (user_id, actor_id, kind, post_id, created_at) "
                    "SELECT CAST(:first AS bigint) + g % CAST(:n AS int), "
                    "CAST(:first AS bigint) + (g * 13) % CAST(:n AS int), 'like', "
                    "CAST(:newest AS bigint) - g % 1000, now() "
                    "FROM generate_series(1, 30000) g"
                ),
                {**ids, "newest": newest},
            )
            await conn.execute(
                text(
                    "ANALYZE users, posts, user_followers, post_likes, post_tags, notifications,"
                    " user_mutes, user_blocks"
                )
            )
        yield Seed(
            tag=tag, first_id=first, middle_id=first + SEEDED_USERS // 2, newest_post_id=newest
        )
    finally:
        await engine.dispose()


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def _sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_sql_literal(each) for each in value) + "]"
    if isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"unexpected parameter {value!r}")
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


async def explain(
    conn: AsyncConnection, statement: AnySelect | TextClause
) -> dict[str, list[dict[str, Any]]]:
    """The custom plan (planned for the values) and the generic plan of `statement`, both
    of a prepared statement, as the service's are; a write is planned, not run."""
    compiled = statement.compile(dialect=conn.dialect)
    args = ", ".join(_sql_literal(compiled.params[name]) for name in compiled.positiontup or ())
    execute = f"EXECUTE plan_probe({args})" if args else "EXECUTE plan_probe"
    await conn.exec_driver_sql(f"PREPARE plan_probe AS {compiled}")
    plans = {}
    try:
        for name in ("custom", "generic"):
            await conn.exec_driver_sql(f"SET plan_cache_mode = force_{name}_plan")
            raw = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {execute}")).scalar_one()
            plan = (orjson.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            plans[name] = list(plan_nodes(plan))
    finally:
        await conn.exec_driver_sql("DEALLOCATE plan_probe")
        await conn.exec_driver_sql("RESET plan_cache_mode")
    return plans


def assert_index_served(plans: dict[str, list[dict[str, Any]]], *, indexes: set[str]) -> None:
    for kind, nodes in plans.items():
        scans = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes]
        full = [scan for scan in scans if scan[0] == "Seq Scan" and scan[1] in WATCHED]
        assert not full, f"{kind} plan reads a whole table: {scans}"
        used = {index for _, _, index in scans if index}
        assert indexes & used, f"{kind} plan uses none of {indexes}: {scans}"


@pytest_asyncio.fixture(loop_scope="module")
async def conn(seed: Seed, settings: Settings) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        yield connection
    await engine.dispose()


async def test_connections_run_generic_plans_without_jit(conn: AsyncConnection) -> None:
    settings = {
        name: (await conn.exec_driver_sql(f"SHOW {name}")).scalar_one()
        for name in ("plan_cache_mode", "jit")
    }
    assert settings == {"plan_cache_mode": "force_generic_plan", "jit": "off"}


async def test_feed_window_plan_walks_posts_by_primary_key(
    conn: AsyncConnection, seed: Seed
) -> None:
    for before in (None, seed.newest_post_id - 1_000):
        statement = window_statement(
            user_id=seed.first_id, before=before, limit=20, window=RECENT_WINDOW
        )
        assert_index_served(await explain(conn, statement), indexes={"pk_posts"})


async def test_feed_per_author_plan_uses_the_author_index(
    conn: AsyncConnection, seed: Seed
) -> None:
    for before in (None, seed.newest_post_id - 1_000):
        statement = per_author_statement(user_id=seed.first_id, before=before, limit=20)
        assert_index_served(await explain(conn, statement), indexes={"ix_posts_author_id_id"})


async def test_author_posts_plan_uses_the_author_index(conn: AsyncConnection, seed: Seed) -> None:
    for before in (None, seed.newest_post_id - 1_000):
        statement = author_posts_statement(
            author_id=seed.middle_id, viewer_id=seed.first_id, before=before, limit=20
        )
        assert_index_served(await explain(conn, statement), indexes={"ix_posts_author_id_id"})


async def test_follow_list_plans_use_the_follow_indexes(conn: AsyncConnection, seed: Seed) -> None:
    expected = {
        "followers": "ix_user_followers_following_id_follower_id",
        "following": "pk_user_followers",
    }
    for direction, index in expected.items():
        for before in (None, seed.middle_id):
            statement = follow_list_statement(
                direction=direction,  # type: ignore[arg-type]
                user_id=seed.first_id,
                before=before,
                limit=20,
            )
            assert_index_served(await explain(conn, statement), indexes={index})


async def test_username_search_plan_uses_the_lower_username_index(
    conn: AsyncConnection, seed: Seed
) -> None:
    prefix = f"pl{seed.tag}_1"
    for after in (None, f"pl{seed.tag}_15"):
        statement = search_statement(prefix=prefix, after=after, limit=20)
        assert_index_served(await explain(conn, statement), indexes={"uq_users_username_lower"})


async def test_profile_counts_are_read_from_indexes(conn: AsyncConnection, seed: Seed) -> None:
    plans = await explain(conn, profile_statement(user_id=seed.first_id, viewer_id=seed.middle_id))
    assert_index_served(plans, indexes={"pk_users"})
    for nodes in plans.values():
        used = {n.get("Index Name") for n in nodes}
        assert {"ix_posts_author_id_id", "pk_user_followers"} <= used
        assert "ix_user_followers_following_id_follower_id" in used


async def test_likers_plan_uses_the_like_primary_key(conn: AsyncConnection, seed: Seed) -> None:
    for before in (None, seed.middle_id):
        statement = likers_statement(post_id=seed.newest_post_id, before=before, limit=20)
        assert_index_served(await explain(conn, statement), indexes={"pk_post_likes"})


async def test_tag_posts_plan_uses_the_tag_primary_key(conn: AsyncConnection, seed: Seed) -> None:
    for before in (None, seed.newest_post_id - 1_000):
        statement = tag_posts_statement(
            tag="seeded", viewer_id=seed.first_id, before=before, limit=20
        )
        assert_index_served(await explain(conn, statement), indexes={"pk_post_tags"})


async def test_notification_plans_use_the_inbox_index(conn: AsyncConnection, seed: Seed) -> None:
    for before in (None, 1_000):
        statement = inbox_statement(user_id=seed.first_id, before=before, limit=20)
        assert_index_served(await explain(conn, statement), indexes={"ix_notifications_user_id_id"})
    statement = unread_statement(user_id=seed.first_id, cap=1000)
    assert_index_served(await explain(conn, statement), indexes={"ix_notifications_user_id_id"})
