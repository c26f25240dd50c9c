"""Migration 0009 (client governance), on SQLite and PostgreSQL: up from 0008 with a client in
place (its governance empty: any address, no limit, a secret that never expires), the new
columns set, down again (the columns gone, the client kept) and up once more. (That head
matches the models is test_migrate's.)"""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage import migrate
from tests.unit.test_migrate_history import SEED, empty_engine

__all__ = ["empty_engine"]  # the fixture, for the tests below

CLIENT_COLUMNS = {
    "ip_allowlist",
    "token_rate_limit_per_minute",
    "mint_limit_hit_at",
    "secret_expires_at",
}


def _run(action: Callable[..., None], revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)

    return run


def _columns(table: str) -> Callable[[Connection], set[str]]:
    def columns(connection: Connection) -> set[str]:
        return {column["name"] for column in inspect(connection).get_columns(table)}

    return columns


async def test_0009_goes_up_and_down_keeping_every_client(empty_engine: AsyncEngine) -> None:
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0008"))
        for statement in SEED:
            await connection.execute(text(statement))
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0009"))
        assert await connection.run_sync(_columns("clients")) >= CLIENT_COLUMNS
        assert "secret_lifetime" in await connection.run_sync(_columns("orgs"))
        seeded = (
            await connection.execute(
                text(
                    "SELECT ip_allowlist, token_rate_limit_per_minute, mint_limit_hit_at, "
                    "secret_expires_at FROM clients"
                )
            )
        ).all()
        assert [tuple(row) for row in seeded] == [(None, None, None, None)]
        await connection.execute(
            text("UPDATE clients SET token_rate_limit_per_minute = 5, secret_expires_at = NULL")
        )
        await connection.execute(text("UPDATE orgs SET secret_lifetime = 3600"))
    assert await migrate.current_revision(empty_engine) == "0009"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.downgrade, "0008"))
        assert not CLIENT_COLUMNS & await connection.run_sync(_columns("clients"))
        assert "secret_lifetime" not in await connection.run_sync(_columns("orgs"))
        kept = (await connection.execute(text("SELECT client_key FROM clients"))).scalars().all()
    assert kept == ["seedkey"]
    assert await migrate.current_revision(empty_engine) == "0008"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0009"))
        limits = (
            (await connection.execute(text("SELECT token_rate_limit_per_minute FROM clients")))
            .scalars()
            .all()
        )
    assert limits == [None]
    assert await migrate.current_revision(empty_engine) == "0009"
