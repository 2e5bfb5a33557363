"""`shared/models.py` and the Alembic history describe the same schema: the migrated test
database, compared with the models, shows no difference (on whichever database the run
uses)."""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SAWarning

from shared.database import create_engine
from shared.models import Base
from shared.settings import Settings


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    with warnings.catch_warnings():
        # The expression index on lower(username) cannot be reflected on SQLite.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        return list(compare_metadata(context, Base.metadata))


async def test_models_match_the_migrated_schema(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert [d for d in differences if not _is_expression_index(d)] == []


def _is_expression_index(difference: Any) -> bool:
    """Alembic cannot reflect `uq_users_username_lower` and so reports it as missing."""
    return (
        isinstance(difference, tuple)
        and difference[0] == "add_index"
        and difference[1].name == "uq_users_username_lower"
    )
