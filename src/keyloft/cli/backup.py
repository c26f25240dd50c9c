"""``keyloft backup``: a consistent copy of the embedded SQLite database, taken while the
service runs; and what it shares with ``keyloft restore`` (``keyloft.cli.restore``).

PostgreSQL deployments back up with ``pg_dump`` and restore with ``pg_restore``
(docs/deploy.md, "Backup and restore"); both commands refuse a PostgreSQL URL and say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from keyloft.cli.output import JsonOpt, emit, fail
from keyloft.config import Settings
from keyloft.storage import backup as sqlite_backup
from keyloft.storage.backup import BackupError, Snapshot

KEEP_APART_NOTE = (
    "Back up the server secret (KEYLOFT_SECRET_KEY or its key file) too, and store it apart "
    "from this file: the backup cannot be used without it."
)


def backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy the SQLite database consistently, while the service keeps running and writing.

    The copy holds every change committed before it started. It is checked (integrity, schema
    revision) before it takes its name, and is readable by its owner only.
    """
    _, database = sqlite_database()
    try:
        made = sqlite_backup.backup(database, path, overwrite=force)
    except BackupError as exc:
        fail(str(exc))
    data = describe(made)
    emit(data, as_json, f"backup written to {data['path']}\n{summary(made)}\n{KEEP_APART_NOTE}")


def sqlite_database() -> tuple[Settings, Path]:
    """The settings and their SQLite file; any other database ends the command with the way
    to go."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}")
    if not settings.is_sqlite:
        fail(
            "KEYLOFT_DATABASE_URL names a PostgreSQL database: back it up with "
            "`pg_dump --format=custom` and restore it with `pg_restore --clean --if-exists` "
            "as docs/deploy.md (Backup and restore) describes"
        )
    path = settings.sqlite_path
    if path is None:
        fail("KEYLOFT_DATABASE_URL names an in-memory database: there is nothing to copy")
    return settings, path


def describe(snapshot: Snapshot) -> dict[str, Any]:
    """A database file as the ``--json`` output shows it."""
    return {
        "path": str(snapshot.path.absolute()),
        "size": snapshot.size,
        "schema": snapshot.revision,
        "orgs": snapshot.orgs,
        "clients": snapshot.clients,
        "activeClients": snapshot.active_clients,
        "signingKeys": snapshot.signing_keys,
    }


def summary(snapshot: Snapshot) -> str:
    """A database file as the text output shows it, one indented line per figure."""
    return (
        f"  size     {snapshot.size} bytes\n"
        f"  schema   {snapshot.revision}\n"
        f"  orgs     {snapshot.orgs}\n"
        f"  clients  {snapshot.clients} ({snapshot.active_clients} active)\n"
        f"  keys     {snapshot.signing_keys} signing key(s)"
    )
