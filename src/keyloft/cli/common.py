"""Helpers shared by the ``keyloft`` command modules: output, failure, one unit of work."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from keyloft.cache.bus import announce
from keyloft.config import Settings
from keyloft.domain.audit import Operator, RequestContext
from keyloft.domain.errors import KeyloftError
from keyloft.services.ports import Store
from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


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


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2) if as_json else text)


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` in one write transaction against a migrated database, then announce what
    it changed to running nodes over Redis (when configured)."""

    path = settings.sqlite_path
    if path is not None and not path.exists():
        fail("the database is not initialised or not migrated: run `keyloft init`")

    async def run() -> T:
        database = Database(create_engine(settings.database_url, command_timeout=None))
        try:
            if await migrate.current_revision(database.engine) != migrate.head_revision():
                fail("the database is not initialised or not migrated: run `keyloft init`")
            async with database.unit_of_work(write=True) as store:
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
        where = f" ({exc.field})" if exc.field else ""
        fail(exc.message + where)
        raise  # unreachable; fail exits
