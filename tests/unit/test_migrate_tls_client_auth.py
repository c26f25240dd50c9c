"""Migration 0006 (tls_client_auth), on SQLite and PostgreSQL: up from 0005 with clients in
place, the two columns as the models declare them, a certificate name stored, down again (the
columns gone, every client kept) and up once more. (That head matches the models is
test_migrate's.)"""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage import migrate
from keyloft.storage.tables import ClientRow
from tests.unit.test_migrate_history import SEED, empty_engine

__all__ = ["empty_engine"]  # the fixture, for the tests below

COLUMNS = {"tls_client_auth_name_type", "tls_client_auth_name"}


def _run(action: Callable[..., None], revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)

    return run


def _columns(connection: Connection) -> dict[str, tuple[bool, int | None]]:
    """The clients table's columns: whether each is nullable, and its length."""
    return {
        column["name"]: (column["nullable"], getattr(column["type"], "length", None))
        for column in inspect(connection).get_columns("clients")
    }


def _declared() -> dict[str, tuple[bool, int | None]]:
    table = ClientRow.__table__
    return {
        name: (bool(table.c[name].nullable), getattr(table.c[name].type, "length", None))
        for name in COLUMNS
    }


async def test_0006_goes_up_and_down_keeping_every_client(empty_engine: AsyncEngine) -> None:
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0005"))
        for statement in SEED:
            await connection.execute(text(statement))
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0006"))
        columns = await connection.run_sync(_columns)
        assert {name: columns[name] for name in COLUMNS} == _declared()
        await connection.execute(
            text(
                "UPDATE clients SET token_endpoint_auth_method = 'tls_client_auth', "
                "secret_hash = NULL, tls_client_auth_name_type = 'subject_dn', "
                "tls_client_auth_name = 'CN=seed,O=Acme' WHERE client_key = 'seedkey'"
            )
        )
    assert await migrate.current_revision(empty_engine) == "0006"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.downgrade, "0005"))
        assert not COLUMNS & set(await connection.run_sync(_columns))
        kept = (
            await connection.execute(text("SELECT name, token_endpoint_auth_method FROM clients"))
        ).all()
    assert [tuple(row) for row in kept] == [("seed", "tls_client_auth")]
    assert await migrate.current_revision(empty_engine) == "0005"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0006"))
        names = (
            await connection.execute(
                text("SELECT tls_client_auth_name_type, tls_client_auth_name FROM clients")
            )
        ).all()
    assert [tuple(row) for row in names] == [(None, None)]
    assert await migrate.current_revision(empty_engine) == "0006"
