"""Every migration runs from empty and from each earlier revision, with data in place, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from tests.support.stores import DEFAULT_POSTGRES, STORES, postgres_admin


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=STORES)
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path}/history.db")
        yield engine
        await engine.dispose()
        return
    server = os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"keyloft_history_{secrets.token_hex(4)}"
    try:
        await postgres_admin(server, f'CREATE DATABASE "{name}"')
    except (OSError, TimeoutError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    engine = create_engine(make_url(server).set(database=name).render_as_string(False))
    yield engine
    await engine.dispose()
    await postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _to(revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return run


SEED = [
    "INSERT INTO orgs (id, name, timezone, max_clients, max_token_ttl, created_at) "
    "VALUES (1, 'Seed', 'UTC', 15, 3600, CURRENT_TIMESTAMP)",
    "INSERT INTO principals (id, org_id, kind, code, name, description, password_hash, "
    "is_active, created_at) VALUES (1, 1, 'TILL', 'seed.till', 'Seed Till', '', 'x', "
    "TRUE, CURRENT_TIMESTAMP)",
    "INSERT INTO scope_entities (org_id, id, name, area_pattern) VALUES (1, 2, 'All', NULL)",
    "INSERT INTO clients (id, org_id, client_key, secret_hash, name, description, "
    "expiration_token_time, default_till_id, is_valid, version, created_at, updated_at, "
    "created_by_id, updated_by_id) VALUES (1, 1, 'seedkey', 'kl1$x', 'seed', '', 60, 1, TRUE, "
    "1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 1)",
    "INSERT INTO client_grants (client_id, entity_id, org_id, permission, resources) "
    "VALUES (1, 2, 1, 'READ', '[]')",
]


async def test_each_revision_upgrades_to_head_with_data_kept(empty_engine: AsyncEngine) -> None:
    history = revisions()
    assert history[0] == "0001"
    async with empty_engine.begin() as connection:
        await connection.run_sync(_to(history[0]))
        for statement in SEED:
            await connection.execute(text(statement))
    for revision in history[1:]:
        async with empty_engine.begin() as connection:
            await connection.run_sync(_to(revision))
        assert await migrate.current_revision(empty_engine) == revision
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()
    assert await migrate.drift(empty_engine) == []
    async with empty_engine.connect() as connection:
        kept = await connection.scalar(
            text("SELECT name FROM clients WHERE client_key = 'seedkey'")
        )
    assert kept == "seed"
