"""How a ``keyloft`` command does its work: who the operator is, and one unit of work
against the migrated database, its changes announced to running nodes."""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import typer

from keyloft.cache.bus import announce
from keyloft.cli.output import fail, refuse
from keyloft.config import Settings
from keyloft.domain.audit import Operator, RequestContext
from keyloft.domain.errors import KeyloftError
from keyloft.services.clock import SystemClock
from keyloft.services.container import operator_services
from keyloft.services.operators import OperatorServices
from keyloft.services.ports import Store
from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database

T = TypeVar("T")

NOT_MIGRATED = "the database is not initialised or not migrated: run `keyloft init`"


def operator() -> Operator:
    """Who is running this command, as the audit trail names them: ``user@host``; one id
    ties together every change of one invocation."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. in a container)
        user = f"uid{os.getuid()}"
    return Operator(
        f"{user}@{socket.gethostname()}"[:200],
        RequestContext(request_id=f"cli-{secrets.token_hex(8)}"),
    )


def open_database(url: str) -> Database:
    """A database for one command: no statement timeout (migrations may run long)."""
    return Database(create_engine(url, command_timeout=None))


@asynccontextmanager
async def unit_of_work(database: Database, *, write: bool) -> AsyncIterator[Store]:
    """``database.unit_of_work`` as the services' ``Store``."""
    async with database.unit_of_work(write=write) as store:
        # SqlStore implements Store, but mypy cannot see it while Store declares its
        # repositories as settable attributes of the protocol types.
        yield cast(Store, store)


def with_services(
    settings: Settings,
    work: Callable[[OperatorServices], Awaitable[T]],
    by: Operator | None = None,
    *,
    as_json: bool = False,
) -> T:
    """Run ``work`` on the operator's services in one write transaction (``with_store``)."""
    by = by or operator()

    async def on(store: Store) -> T:
        services = operator_services(
            store, SystemClock(), by, token_lifetime=settings.token_ttl_ceiling
        )
        return await work(services)

    return with_store(settings, on, as_json=as_json)


def with_store(
    settings: Settings, work: Callable[[Store], Awaitable[T]], *, as_json: bool = False
) -> T:
    """Run ``work`` in one write transaction against a migrated database, then announce what
    it changed to running nodes over Redis (when configured). A refusal of the rules rolls it
    back and fails the command (with an error object under ``as_json``)."""
    path = settings.sqlite_path
    if path is not None and not path.exists():
        fail(NOT_MIGRATED)

    async def run() -> T:
        database = open_database(settings.database_url)
        try:
            if await migrate.current_revision(database.engine) != migrate.head_revision():
                fail(NOT_MIGRATED)
            async with unit_of_work(database, write=True) as store:
                result = await work(store)
            announced = not (store.changes and settings.redis_url) or await announce(
                settings.redis_url or "", store.changes
            )
            if not announced:
                typer.secho(
                    "warning: Redis unreachable; running nodes see the change when their "
                    "cached entries expire",
                    err=True,
                )
            return result
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except KeyloftError as exc:
        refuse(exc, as_json)
