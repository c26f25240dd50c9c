"""Schema migrations: upgrade to head, report the revision, and detect model/migration drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage.tables import Base

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """Migrate to head; returns (revision before, revision after)."""
    before = await current_revision(engine)
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
    return before, await current_revision(engine)


async def drift(engine: AsyncEngine) -> list[Any]:
    """Differences between the models and the migrated schema; empty when they agree."""
    async with engine.connect() as connection:
        return await connection.run_sync(_diff)
