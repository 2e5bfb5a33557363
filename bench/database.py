"""The bench's own PostgreSQL database, created, migrated, seeded in bulk and dropped by the run.

Accounts, sessions, rooms, follows and posts are written with COPY and generate_series, not
through the API: a thousand sign-ups would spend a minute in argon2id before measuring
anything. Tokens are minted with the bench's own key pair, exactly as the auth service mints
them, so every socket and request authenticates the normal way (signature, then session row).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from shared.models import utcnow
from shared.schema import upgrade_to_head
from shared.tokens import PRIVATE_KEY_FILENAME, PUBLIC_KEY_FILENAME, KeyPair, TokenCodec
from shared.tokens import generate_key_pair as new_key_pair
from shared.tokens import write_key_pair as save_key_pair

DEFAULT_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TOKEN_TTL = timedelta(days=1)


def server_url() -> str:
    """The PostgreSQL server the bench creates its database on."""
    return (
        os.environ.get("GOCHAT_BENCH_DATABASE_URL")
        or os.environ.get("GOCHAT_TEST_DATABASE_URL")
        or DEFAULT_SERVER_URL
    )


def plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class BenchDatabase:
    """A database of its own on the server, and the key pair its tokens are signed with."""

    url: str  # SQLAlchemy URL the services are given
    keys_dir: Path

    @property
    def dsn(self) -> str:
        return plain_dsn(self.url)

    def service_env(self, **extra: str) -> dict[str, str]:
        """Environment for a GoChat service on this database (the auth service gets the private
        key file through `extra`)."""
        return {
            "GOCHAT_ENV": "production",
            "GOCHAT_DATABASE_URL": self.url,
            "GOCHAT_JWT_PUBLIC_KEY_FILE": str(self.keys_dir / PUBLIC_KEY_FILENAME),
            "GOCHAT_LOG_LEVEL": "warning",
            "GOCHAT_REDIS_NAMESPACE": f"bench-{secrets.token_hex(4)}",
            **extra,
        }

    @property
    def private_key_file(self) -> Path:
        return self.keys_dir / PRIVATE_KEY_FILENAME

    def run(self, statement: str, *args: object) -> None:
        asyncio.run(_execute(self.dsn, statement, *args))

    def fetch_ids(self, query: str, *args: object) -> list[int]:
        return asyncio.run(_fetch_ids(self.dsn, query, *args))

    def create_accounts(
        self, count: int, *, prefix: str, password_hash: str = "!bench"
    ) -> list[Account]:
        """`count` users with one live session and token each."""
        return asyncio.run(self._create_accounts(count, prefix=prefix, password_hash=password_hash))

    async def _create_accounts(
        self, count: int, *, prefix: str, password_hash: str
    ) -> list[Account]:
        codec = TokenCodec(_read_key_pair(self.keys_dir), issuer="gochat", audience="gochat")
        now = utcnow().replace(microsecond=0)
        tag = secrets.token_hex(3)
        names = [f"{prefix}_{tag}_{i}" for i in range(count)]
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "users",
                    columns=["username", "email", "password_hash", "created_at"],
                    records=[(n, f"{n.lower()}@bench.example", password_hash, now) for n in names],
                )
                rows = await conn.fetch(
                    "SELECT id, username FROM users WHERE username = ANY($1::text[])", names
                )
                ids = {row["username"]: row["id"] for row in rows}
                sessions = [(uuid.uuid4(), ids[n], now, now + TOKEN_TTL) for n in names]
                await conn.copy_records_to_table(
                    "sessions",
                    columns=["id", "user_id", "created_at", "expires_at"],
                    records=sessions,
                )
        finally:
            await conn.close()
        return [
            Account(
                id=user_id,
                username=name,
                token=codec.encode(
                    user_id=user_id,
                    session_id=session_id,
                    issued_at=now,
                    expires_at=now + TOKEN_TTL,
                ),
            )
            for name, (session_id, user_id, _, _) in zip(names, sessions, strict=True)
        ]

    def create_rooms(self, room_ids: Sequence[str], *, created_by: int | None = None) -> None:
        now = utcnow()
        records = [(room_id, room_id, created_by, now, 0) for room_id in room_ids]
        asyncio.run(
            _copy(
                self.dsn, "rooms", ["id", "name", "created_by", "created_at", "last_seq"], records
            )
        )

    def add_members(self, members: Mapping[str, Sequence[int]]) -> None:
        """Room id -> user ids, all of them plain members."""
        now = utcnow()
        records = [(room, user, "member", now) for room, users in members.items() for user in users]
        asyncio.run(
            _copy(self.dsn, "room_members", ["room_id", "user_id", "role", "joined_at"], records)
        )

    def messages_stored(self, room_ids: Sequence[str]) -> int:
        """How many messages the rooms hold (a message delivered but not stored is a bug)."""
        statement = "SELECT count(*) FROM messages WHERE room_id = ANY($1::text[])"
        return int(asyncio.run(_fetchval(self.dsn, statement, list(room_ids))))

    def seed_feed(
        self, *, reader_id: int, followed: Sequence[int], authors: Sequence[int], posts: int
    ) -> None:
        """`reader_id` follows `followed`; `posts` posts spread evenly over `authors` (the
        followed and as many others), so the reader's feed is a slice of a big table."""
        asyncio.run(
            self._seed_feed(reader_id=reader_id, followed=followed, authors=authors, posts=posts)
        )

    async def _seed_feed(
        self, *, reader_id: int, followed: Sequence[int], authors: Sequence[int], posts: int
    ) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO user_followers (follower_id, following_id, created_at) "
                    "SELECT $1, author, now() FROM unnest($2::bigint[]) AS author",
                    reader_id,
                    list(followed),
                )
                # Oldest first, so ids grow with created_at as they do in production.
                await conn.execute(
                    """
                    INSERT INTO posts (author_id, content, created_at)
                    SELECT ($1::bigint[])[1 + (g % array_length($1::bigint[], 1))],
                           'post number ' || g || ' ' || repeat('x', 60),
                           now() - make_interval(secs => $2 - g)
                    FROM generate_series(1, $2) AS g
                    """,
                    list(authors),
                    posts,
                )
            await conn.execute("ANALYZE users, user_followers, posts")
        finally:
            await conn.close()

    def seed_reactions(
        self, *, reader_id: int, followed: Sequence[int], reposts: int, likes: int
    ) -> None:
        """Followees repost `reposts` of the newest posts (spread over them, some posts by
        several people: the feed shows each once) and the reader likes `likes` of them; the
        counts on the posts are set to match, as the API keeps them."""
        asyncio.run(
            self._seed_reactions(
                reader_id=reader_id, followed=followed, reposts=reposts, likes=likes
            )
        )

    async def _seed_reactions(
        self, *, reader_id: int, followed: Sequence[int], reposts: int, likes: int
    ) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                newest = await conn.fetchval("SELECT max(id) FROM posts")
                # Post newest - 3g reposted by a followee: every post of a stride of three.
                await conn.execute(
                    """
                    INSERT INTO posts (author_id, content, created_at, repost_of_id)
                    SELECT ($1::bigint[])[1 + (g * 7) % array_length($1::bigint[], 1)], '',
                           now(), $2::bigint - 3 * (g % ($3::int / 2 + 1))
                    FROM generate_series(1, $3) AS g
                    ON CONFLICT DO NOTHING
                    """,
                    list(followed),
                    newest,
                    reposts,
                )
                await conn.execute(
                    "INSERT INTO post_likes (post_id, user_id, created_at) "
                    "SELECT $2::bigint - 2 * g, $1, now() FROM generate_series(0, $3 - 1) g "
                    "ON CONFLICT DO NOTHING",
                    reader_id,
                    newest,
                    likes,
                )
                await conn.execute(
                    "UPDATE posts SET repost_count = c.n FROM (SELECT repost_of_id, count(*) n "
                    "FROM posts WHERE repost_of_id IS NOT NULL GROUP BY 1) c "
                    "WHERE posts.id = c.repost_of_id"
                )
                await conn.execute(
                    "UPDATE posts SET like_count = c.n FROM (SELECT post_id, count(*) n "
                    "FROM post_likes GROUP BY 1) c WHERE posts.id = c.post_id"
                )
            await conn.execute("VACUUM ANALYZE posts")
            await conn.execute("ANALYZE post_likes")
        finally:
            await conn.close()

    def seed_notifications(self, *, user_id: int, actors: Sequence[int], count: int) -> None:
        """`count` notifications for `user_id`: likes, reposts and replies of their posts
        and follows, by `actors` in turn."""
        asyncio.run(self._seed_notifications(user_id=user_id, actors=actors, count=count))

    async def _seed_notifications(self, *, user_id: int, actors: Sequence[int], count: int) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO posts (author_id, content, created_at) "
                    "SELECT $1, 'notified post ' || g, now() FROM generate_series(1, 100) g",
                    user_id,
                )
                posts = [
                    r["id"]
                    for r in await conn.fetch("SELECT id FROM posts WHERE author_id = $1", user_id)
                ]
                await conn.execute(
                    """
                    INSERT INTO notifications (user_id, actor_id, kind, post_id, created_at)
                    SELECT $1, ($2::bigint[])[1 + g % array_length($2::bigint[], 1)],
                           (ARRAY['like', 'repost', 'reply', 'follow'])[1 + g % 4],
                           CASE WHEN g % 4 = 3 THEN NULL
                                ELSE ($3::bigint[])[1 + g % array_length($3::bigint[], 1)] END,
                           now()
                    FROM generate_series(1, $4) AS g
                    """,
                    user_id,
                    list(actors),
                    posts,
                    count,
                )
            await conn.execute("VACUUM ANALYZE notifications")
        finally:
            await conn.close()


def _read_key_pair(keys_dir: Path) -> KeyPair:
    return KeyPair(
        public_pem=(keys_dir / PUBLIC_KEY_FILENAME).read_text(),
        private_pem=(keys_dir / PRIVATE_KEY_FILENAME).read_text(),
    )


async def _execute(dsn: str, statement: str, *args: object) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def _fetch_ids(dsn: str, query: str, *args: object) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [int(row[0]) for row in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def _fetchval(dsn: str, statement: str, *args: object) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


async def _copy(
    dsn: str, table: str, columns: list[str], records: Sequence[tuple[object, ...]]
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(table, columns=columns, records=records)
    finally:
        await conn.close()


@contextmanager
def bench_database(work_dir: Path) -> Iterator[BenchDatabase]:
    """Create `gochat_bench_<random>`, migrate it to head, drop it at the end whatever happens."""
    server = server_url()
    name = f"gochat_bench_{secrets.token_hex(4)}"
    asyncio.run(_execute(plain_dsn(server), f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    keys_dir = work_dir / "keys"
    save_key_pair(keys_dir, new_key_pair())
    try:
        upgrade_to_head(url)
        yield BenchDatabase(url=url, keys_dir=keys_dir)
    finally:
        asyncio.run(_execute(plain_dsn(server), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
