"""Migrations: a fresh SQLite file reaches head, matches the models, and reruns as a no-op."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.storage.tables import Base
from tests.support.stores import STORES


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path}/migrate.db")
    yield engine
    await engine.dispose()


async def test_head_is_known() -> None:
    assert migrate.head_revision() is not None


async def test_fresh_database_reaches_head_without_drift(engine: AsyncEngine) -> None:
    assert await migrate.current_revision(engine) is None
    before, after = await migrate.upgrade(engine)
    assert before is None
    assert after == migrate.head_revision()
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await migrate.drift(engine) == []
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables


async def test_empty_database_drifts(engine: AsyncEngine) -> None:
    differences = await migrate.drift(engine)
    added = {d[1].name for d in differences if d[0] == "add_table"}
    assert added == set(Base.metadata.tables)


async def test_upgrade_twice_is_a_no_op(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    async with engine.connect() as connection:
        schema = await connection.run_sync(_schema)
    before, after = await migrate.upgrade(engine)
    assert before == after == migrate.head_revision()
    async with engine.connect() as connection:
        assert await connection.run_sync(_schema) == schema
    assert await migrate.drift(engine) == []


def _schema(connection: Connection) -> list[tuple[str, str]]:
    rows = connection.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name"))
    return [(name, sql or "") for name, sql in rows]


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_models_and_migrations_agree_on_every_store(database: Database) -> None:
    """The shared ``database`` fixture, on SQLite and on PostgreSQL."""
    assert await migrate.current_revision(database.engine) == migrate.head_revision()
    assert await migrate.drift(database.engine) == []
