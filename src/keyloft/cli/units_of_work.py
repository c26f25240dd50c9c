"""Units of work for a command that needs more than one transaction (``keyloft apply``: a
read, a rehearsal, one per org): each against the migrated database, each write announced to
running nodes over Redis (when configured) once it has committed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import typer

from keyloft.cache.bus import announce
from keyloft.cli.output import fail
from keyloft.cli.work import NOT_MIGRATED, open_database, unit_of_work
from keyloft.config import Settings
from keyloft.services.ports import Store
from keyloft.storage import migrate
from keyloft.storage.store import Database

T = TypeVar("T")


class CommandTransactions:
    """Implements ``keyloft.services.manifest_apply.Transactions`` over one database."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._redis_url = settings.redis_url

    @asynccontextmanager
    async def __call__(self, *, write: bool) -> AsyncIterator[Store]:
        async with unit_of_work(self._database, write=write) as store:
            yield store
        announced = not (write and store.changes and self._redis_url) or await announce(
            self._redis_url or "", store.changes
        )
        if not announced:
            typer.secho(
                "warning: Redis unreachable; running nodes see the change when their "
                "cached entries expire",
                err=True,
            )


async def with_transactions(
    settings: Settings, work: Callable[[CommandTransactions], Awaitable[T]]
) -> T:
    """Run ``work`` with units of work on the configured, migrated database."""
    path = settings.sqlite_path
    if path is not None and not path.exists():
        fail(NOT_MIGRATED)
    database = open_database(settings.database_url)
    try:
        if await migrate.current_revision(database.engine) != migrate.head_revision():
            fail(NOT_MIGRATED)
        return await work(CommandTransactions(database, settings))
    finally:
        await database.dispose()
