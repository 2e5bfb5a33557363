"""Alembic from code: `gochat migrate`, and the start-up check that the schema is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaNotAtHead(RuntimeError):
    """The database is behind the code; the message names the command that fixes it."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Blocking: runs its own event loop, so call it from a thread inside async code."""
    command.upgrade(alembic_config(database_url), "head")


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


async def ensure_at_head(engine: AsyncEngine) -> None:
    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        revisions = await connection.run_sync(current)
    if revisions != head_revisions():
        found = ", ".join(sorted(revisions)) or "empty"
        raise SchemaNotAtHead(
            f"database schema is not up to date (at {found}); run `gochat migrate` first"
        )
