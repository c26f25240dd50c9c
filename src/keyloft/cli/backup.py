"""``keyloft backup`` and ``keyloft restore``: a consistent copy of the embedded SQLite
database taken while the service runs, and putting such a copy back.

PostgreSQL deployments back up with ``pg_dump`` and restore with ``pg_restore``
(docs/deploy.md, "Backup and restore"); both commands refuse a PostgreSQL URL and say so.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from keyloft.cli.common import JsonOpt, emit, fail, operator
from keyloft.config import Settings
from keyloft.domain.audit import Operator
from keyloft.domain.signing import NoSigningKey
from keyloft.services.clock import SystemClock
from keyloft.services.keys import ServerKeys, load_key_ring
from keyloft.services.server_secret import MissingServerSecret, require_server_secret
from keyloft.storage import backup as sqlite_backup
from keyloft.storage import migrate
from keyloft.storage.backup import BackupError, Snapshot
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database

RESTART_NOTE = (
    "Restart every running `keyloft serve`: its workers cache clients, logins and signing "
    "keys from the replaced database."
)
KEEP_APART_NOTE = (
    "Back up the server secret (KEYLOFT_SECRET_KEY or its key file) too, and store it apart "
    "from this file: the backup cannot be used without it."
)


def _stop(message: str) -> NoReturn:
    fail(message)
    raise typer.Exit(1)  # not reached: fail exits


def _sqlite_database() -> tuple[Settings, Path]:
    """The settings and their SQLite file; any other database ends the command with the way
    to go."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _stop(f"invalid settings: {problems}")
    if not settings.is_sqlite:
        _stop(
            "KEYLOFT_DATABASE_URL names a PostgreSQL database: back it up with "
            "`pg_dump --format=custom` and restore it with `pg_restore --clean --if-exists` "
            "as docs/deploy.md (Backup and restore) describes"
        )
    path = settings.sqlite_path
    if path is None:
        _stop("KEYLOFT_DATABASE_URL names an in-memory database: there is nothing to copy")
    return settings, path


def _describe(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "path": str(snapshot.path.absolute()),
        "size": snapshot.size,
        "schema": snapshot.revision,
        "orgs": snapshot.orgs,
        "clients": snapshot.clients,
        "activeClients": snapshot.active_clients,
        "signingKeys": snapshot.signing_keys,
    }


def _lines(snapshot: Snapshot) -> str:
    return (
        f"  size     {snapshot.size} bytes\n"
        f"  schema   {snapshot.revision}\n"
        f"  orgs     {snapshot.orgs}\n"
        f"  clients  {snapshot.clients} ({snapshot.active_clients} active)\n"
        f"  keys     {snapshot.signing_keys} signing key(s)"
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
    _, database = _sqlite_database()
    try:
        made = sqlite_backup.backup(database, path, overwrite=force)
    except BackupError as exc:
        _stop(str(exc))
    data = _describe(made)
    emit(data, as_json, f"backup written to {data['path']}\n{_lines(made)}\n{KEEP_APART_NOTE}")


async def _upgrade(staged: Path) -> None:
    engine = create_engine(f"sqlite:///{staged}", command_timeout=None)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _open_signing_keys(staged: Path, keys: ServerKeys, previous: list[ServerKeys]) -> None:
    database = Database(create_engine(f"sqlite:///{staged}", command_timeout=None))
    try:
        async with database.unit_of_work(write=False) as store:
            # NoSigningKey comes only after every stored key was decrypted: none of them
            # signs now, which `keyloft serve` reports itself.
            with contextlib.suppress(NoSigningKey):
                await load_key_ring(store, keys, previous)
    finally:
        await database.dispose()


async def _record_restore(staged: Path, by: Operator, changes: dict[str, list[Any]]) -> None:
    """The restore's own audit event, written into the copy that becomes the database, so the
    trail shows when and from what the data came back."""
    database = Database(create_engine(f"sqlite:///{staged}", command_timeout=None))
    try:
        async with database.unit_of_work(write=True) as store:
            await store.audit.add(
                by.event(
                    org_id=None,
                    at=SystemClock().now(),
                    action="database.restore",
                    target_type="database",
                    target="sqlite",
                    changes=changes,
                )
            )
    finally:
        await database.dispose()


def _check_backup(staged: Path, found: Snapshot) -> tuple[Snapshot, str | None]:
    """Bring the staged copy to this code's schema; refuse one it does not know. Returns the
    copy's description afterwards and the revision it was migrated from, if it was."""
    known = sqlite_backup.known_revisions()
    if found.revision not in known:
        _stop(
            f"the backup has schema revision {found.revision!r}, which this version of Keyloft "
            f"does not know (newest known: {known[-1]}); restore it with the version that made "
            "it. Nothing changed"
        )
    if found.revision == known[-1]:
        return found, None
    try:
        asyncio.run(_upgrade(staged))
    except Exception as exc:
        _stop(f"cannot migrate the backup from schema {found.revision}: {exc}. Nothing changed")
    try:
        return sqlite_backup.inspect(staged, named="the migrated backup"), found.revision
    except BackupError as exc:
        _stop(f"{exc}. Nothing changed")


def _check_server_secret(settings: Settings, staged: Path) -> None:
    try:
        current = ServerKeys.derive(require_server_secret(settings))
    except MissingServerSecret as exc:
        _stop(f"{exc} Restore the server secret of the backup first. Nothing changed")
    previous = [ServerKeys.derive(secret) for secret in settings.previous_secrets()]
    try:
        asyncio.run(_open_signing_keys(staged, current, previous))
    except RuntimeError:
        _stop(
            "the backup's signing keys cannot be decrypted with the configured server secret: "
            "set KEYLOFT_SECRET_KEY (or the key file) to the secret in use when the backup was "
            "taken. Nothing changed"
        )


def _confirm(database: Path, backup_file: Path, found: Snapshot) -> None:
    # On standard error, so that --json output stays one JSON document.
    typer.echo(
        f"Restoring {backup_file} replaces every org, client and key in {database} with",
        err=True,
    )
    typer.echo(_lines(found), err=True)
    try:
        confirmed = typer.confirm("Replace the current database?", default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        _stop("not confirmed (pass --yes to skip the question). Nothing changed")


def _side_copy_name(database: Path) -> Path:
    stamp = SystemClock().now().strftime("%Y%m%dT%H%M%SZ")
    name = f"{database.name}.before-restore-{stamp}"
    candidate, n = database.with_name(name), 1
    while candidate.exists():
        n += 1
        candidate = database.with_name(f"{name}-{n}")
    return candidate


def restore(
    path: Annotated[Path, typer.Argument(help="A file made by `keyloft backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask: the current data is discarded.")
    ] = False,
    side_copy: Annotated[
        bool,
        typer.Option(
            "--side-copy/--no-side-copy",
            help="Keep the replaced database as <database>.before-restore-<UTC time>.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Replace the SQLite database with a backup (migrated forward if it is older).

    The backup is checked first: intact, a Keyloft schema this version knows, signing keys
    that the configured server secret opens. The swap is one transaction on the live file, so
    a running service sees the old data or the new, never a mixture.
    """
    settings, database = _sqlite_database()
    by = operator()
    if not database.parent.is_dir():
        _stop(f"directory {database.parent} does not exist")
    if database.exists() and path.exists() and path.samefile(database):
        _stop(f"{path} is the configured database itself")
    try:
        staged, found = sqlite_backup.stage(path, database.parent)
    except BackupError as exc:
        _stop(f"{exc}. Nothing changed")
    kept: Path | None = None
    try:
        checked, migrated_from = _check_backup(staged, found)
        _check_server_secret(settings, staged)
        if not yes:
            _confirm(database, path, checked)
        if side_copy and database.exists():
            kept = _side_copy_name(database)
            try:
                sqlite_backup.side_copy(database, kept)
            except BackupError as exc:
                _stop(f"{exc} (--no-side-copy restores without keeping it). Nothing changed")
        asyncio.run(
            _record_restore(
                staged,
                by,
                {
                    "restoredFrom": [None, path.name],
                    "backupSchema": [None, found.revision],
                    "sideCopy": [None, kept.name if kept else None],
                },
            )
        )
        try:
            sqlite_backup.replace_live(staged, database)
        except BackupError as exc:
            _stop(f"{exc}. If it is damaged, move it and its -wal/-shm files aside, then restore")
    finally:
        sqlite_backup.discard(staged)
    try:
        restored = sqlite_backup.inspect(database)
    except BackupError as exc:
        _stop(f"restored, but the result does not check out: {exc}")
    data = _describe(restored)
    data["restoredFrom"] = str(path.absolute())
    data["migratedFrom"] = migrated_from
    data["sideCopy"] = str(kept.absolute()) if kept else None
    data["restartNeeded"] = True
    text = [f"restored {data['path']} from {data['restoredFrom']}", _lines(restored)]
    if migrated_from:
        text.append(f"  (migrated from schema {migrated_from})")
    if kept:
        text.append(f"the replaced database is kept at {data['sideCopy']}")
    if not restored.signing_keys:
        text.append("it holds no signing key: run `keyloft init` to make one")
    text.append(RESTART_NOTE)
    emit(data, as_json, "\n".join(text))
