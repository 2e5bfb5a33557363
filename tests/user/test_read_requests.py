"""The user service's GET requests run without a transaction on PostgreSQL (two round trips
fewer), and such a session refuses to write, so a GET that began to write would fail loudly
instead of writing half of something."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import ReadOnlyViolation, create_read_sessionmaker, unit_of_work
from shared.models import Post
from tests.support.users import register


async def test_a_read_session_runs_each_statement_on_its_own(
    db_engine: AsyncEngine, on_postgresql: bool
) -> None:
    if not on_postgresql:
        pytest.skip("SQLite keeps its transactions (its lock is not a round trip)")
    async with unit_of_work(create_read_sessionmaker(db_engine)) as db:
        first = await db.scalar(select(func.now()))
        await asyncio.sleep(0.01)
        second = await db.scalar(select(func.now()))
    assert first != second  # inside one transaction now() would not move


async def test_a_read_session_refuses_to_write(db_engine: AsyncEngine, on_postgresql: bool) -> None:
    if not on_postgresql:
        pytest.skip("only PostgreSQL reads outside transactions")
    with pytest.raises(ReadOnlyViolation):
        async with unit_of_work(create_read_sessionmaker(db_engine)) as db:
            await db.execute(insert(Post).values(author_id=1, content="never"))


async def test_gets_read_and_posts_write_through_the_service(client: httpx.AsyncClient) -> None:
    alice = await register(client, "readalice")
    created = await client.post("/users/posts", json={"content": "hello"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    feed = await client.get("/users/feed", headers=alice.headers)
    assert feed.status_code == 200
    assert [item["content"] for item in feed.json()["items"]] == ["hello"]
