"""Migration 0011 (webhooks), on SQLite and PostgreSQL: up from 0010 with a client in place,
both tables as the models declare them, a webhook and a message stored, down again (the tables
gone, the client kept) and up once more. (That head matches the models is test_migrate's.)"""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from keyloft.storage import migrate
from keyloft.storage.tables import WebhookDeliveryRow, WebhookRow
from tests.unit.test_migrate_history import SEED, empty_engine

__all__ = ["empty_engine"]  # the fixture, for the tests below

TABLES = {"webhooks": WebhookRow, "webhook_deliveries": WebhookDeliveryRow}


def _run(action: Callable[..., None], revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)

    return run


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _columns(connection: Connection) -> dict[str, dict[str, bool]]:
    found = inspect(connection)
    return {
        table: {column["name"]: column["nullable"] for column in found.get_columns(table)}
        for table in TABLES
    }


def _declared() -> dict[str, dict[str, bool]]:
    return {
        table: {column.name: bool(column.nullable) for column in row.__table__.columns}
        for table, row in TABLES.items()
    }


async def test_0011_goes_up_and_down_keeping_every_client(empty_engine: AsyncEngine) -> None:
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0010"))
        for statement in SEED:
            await connection.execute(text(statement))
    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0011"))
        assert await connection.run_sync(_columns) == _declared()
        org_id = await connection.scalar(text("SELECT org_id FROM clients"))
        await connection.execute(
            text(
                "INSERT INTO webhooks (org_id, url, events, description, secret, created_at) "
                "VALUES (:org, 'https://hooks.example.com/', '[\"client.created\"]', '', "
                "'kl1$x', CURRENT_TIMESTAMP)"
            ),
            {"org": org_id},
        )
        hook = await connection.scalar(text("SELECT id FROM webhooks"))
        await connection.execute(
            text(
                "INSERT INTO webhook_deliveries (webhook_id, message_id, event_type, payload, "
                "status, attempts, created_at, retry_from, next_attempt_at) VALUES (:hook, "
                "'msg_1', 'client.created', '{}', 'pending', 0, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"hook": hook},
        )
    assert await migrate.current_revision(empty_engine) == "0011"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.downgrade, "0010"))
        assert not set(TABLES) & await connection.run_sync(_tables)
        kept = (await connection.execute(text("SELECT client_key FROM clients"))).scalars().all()
    assert kept == ["seedkey"]
    assert await migrate.current_revision(empty_engine) == "0010"

    async with empty_engine.begin() as connection:
        await connection.run_sync(_run(command.upgrade, "0011"))
        rows = await connection.scalar(text("SELECT count(*) FROM webhook_deliveries"))
    assert rows == 0
    assert await migrate.current_revision(empty_engine) == "0011"
