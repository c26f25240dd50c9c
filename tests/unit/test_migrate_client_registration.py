"""Migration 0008 (dynamic client registration), on SQLite and PostgreSQL: up from 0007 with
a client in place, the table as the models declare it, a registration stored, down again (the
table gone, the client kept) and up once more. (That head matches the models is
test_migrate's.)"""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage import migrate
from keyloft.storage.tables import ClientRegistrationRow
from tests.unit.test_migrate_history import SEED, empty_engine

__all__ = ["empty_engine"]  # the fixture, for the tests below

TABLE = "client_registrations"


def _run(action: Callable[..., None], revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)

    return run


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _columns(connection: Connection) -> dict[str, tuple[bool, int | None]]:
    return {
        column["name"]: (column["nullable"], getattr(column["type"], "length", None))
        for column in inspect(connection).get_columns(TABLE)
    }


def _declared() -> dict[str, tuple[bool, int | None]]:
    table = ClientRegistrationRow.__table__
    return {
        column.name: (bool(column.nullable), getattr(column.type, "length", None))
        for column in table.columns
    }


async def test_0008_goes_up_and_down_keeping_every_client(empty_engine: AsyncEngine) -> None:
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0007"))
        for statement in SEED:
            await connection.execute(text(statement))
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0008"))
        assert await connection.run_sync(_columns) == _declared()
        await connection.execute(
            text(
                f"INSERT INTO {TABLE} (client_id, token_hash, token_endpoint_auth_method, "
                "issued_at) VALUES (1, 'kl1$x', 'client_secret_basic', CURRENT_TIMESTAMP)"
            )
        )
    assert await migrate.current_revision(empty_engine) == "0008"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.downgrade, "0007"))
        assert TABLE not in await connection.run_sync(_tables)
        kept = (await connection.execute(text("SELECT client_key FROM clients"))).scalars().all()
    assert kept == ["seedkey"]
    assert await migrate.current_revision(empty_engine) == "0007"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0008"))
        rows = await connection.scalar(text(f"SELECT count(*) FROM {TABLE}"))
    assert rows == 0
    assert await migrate.current_revision(empty_engine) == "0008"
