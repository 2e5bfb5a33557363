"""Direct database access, for what the API does not show: rows left behind, query plans."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import create_engine
from shared.settings import Settings


@pytest.fixture
async def db_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def on_postgresql(settings: Settings) -> bool:
    return not settings.is_sqlite
