"""``keyloft db``: migrate the schema to the newest revision, and check that the models and
the migrated schema agree."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from keyloft.cli.output import fail
from keyloft.config import Settings
from keyloft.services import setup
from keyloft.storage import migrate
from keyloft.storage.engine import create_engine

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the schema to the newest revision."""
    settings = Settings()
    setup.ensure_database_file(settings)

    async def run() -> tuple[str | None, str | None]:
        engine = create_engine(settings.database_url, command_timeout=None)
        try:
            return await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    typer.echo("schema already current" if before == after else f"schema {before} -> {after}")


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated schema disagree."""
    settings = Settings()
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        fail(f"no database at {settings.sqlite_path}: run `keyloft init`")

    async def run() -> list[Any]:
        engine = create_engine(settings.database_url, command_timeout=None)
        try:
            return await migrate.drift(engine)
        finally:
            await engine.dispose()

    differences = asyncio.run(run())
    if differences:
        for difference in differences:
            typer.echo(f"drift: {difference}")
        raise typer.Exit(1)
    typer.echo("models and migrations agree")
