"""``keyloft restore``: put a copy made by ``keyloft backup`` back in place of the SQLite
database, after checking it (intact, a known schema, signing keys the server secret opens)
and migrating it forward when it is older."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from keyloft.cli.backup import describe, sqlite_database, summary
from keyloft.cli.output import JsonOpt, emit, fail
from keyloft.cli.work import open_database, operator, unit_of_work
from keyloft.config import Settings
from keyloft.domain.audit import Operator
from keyloft.services.clock import SystemClock
from keyloft.services.keys import check_signing_keys
from keyloft.services.server_secret import (
    MissingServerSecret,
    previous_server_keys,
    server_keys,
)
from keyloft.storage import backup as sqlite_backup
from keyloft.storage import migrate
from keyloft.storage.backup import BackupError, Snapshot

RESTART_NOTE = (
    "Restart every running `keyloft serve`: its workers cache clients, logins and signing "
    "keys from the replaced database."
)


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
    settings, database = sqlite_database()
    by = operator()
    if not database.parent.is_dir():
        fail(f"directory {database.parent} does not exist")
    if database.exists() and path.exists() and path.samefile(database):
        fail(f"{path} is the configured database itself")
    try:
        staged, found = sqlite_backup.stage(path, database.parent)
    except BackupError as exc:
        fail(f"{exc}. Nothing changed")
    try:
        checked, migrated_from = _check_backup(staged, found)
        _check_server_secret(settings, staged)
        if not yes:
            _confirm(database, path, checked)
        kept = _keep_side_copy(database) if side_copy and database.exists() else None
        changes: dict[str, list[Any]] = {
            "restoredFrom": [None, path.name],
            "backupSchema": [None, found.revision],
            "sideCopy": [None, kept.name if kept else None],
        }
        asyncio.run(_record_restore(staged, by, changes))
        try:
            sqlite_backup.replace_live(staged, database)
        except BackupError as exc:
            fail(f"{exc}. If it is damaged, move it and its -wal/-shm files aside, then restore")
    finally:
        sqlite_backup.discard(staged)
    _report(database, path, migrated_from, kept, as_json)


def _check_backup(staged: Path, found: Snapshot) -> tuple[Snapshot, str | None]:
    """Bring the staged copy to this code's schema; refuse one it does not know. Returns the
    copy's description afterwards and the revision it was migrated from, if it was."""
    known = sqlite_backup.known_revisions()
    if found.revision not in known:
        fail(
            f"the backup has schema revision {found.revision!r}, which this version of Keyloft "
            f"does not know (newest known: {known[-1]}); restore it with the version that made "
            "it. Nothing changed"
        )
    if found.revision == known[-1]:
        return found, None
    try:
        asyncio.run(_upgrade(staged))
    except Exception as exc:
        fail(f"cannot migrate the backup from schema {found.revision}: {exc}. Nothing changed")
    try:
        return sqlite_backup.inspect(staged, named="the migrated backup"), found.revision
    except BackupError as exc:
        fail(f"{exc}. Nothing changed")


async def _upgrade(staged: Path) -> None:
    database = open_database(f"sqlite:///{staged}")
    try:
        await migrate.upgrade(database.engine)
    finally:
        await database.dispose()


def _check_server_secret(settings: Settings, staged: Path) -> None:
    try:
        current = server_keys(settings)
    except MissingServerSecret as exc:
        fail(f"{exc} Restore the server secret of the backup first. Nothing changed")
    previous = previous_server_keys(settings)

    async def check() -> None:
        database = open_database(f"sqlite:///{staged}")
        try:
            async with unit_of_work(database, write=False) as store:
                await check_signing_keys(store, current, previous)
        finally:
            await database.dispose()

    try:
        asyncio.run(check())
    except RuntimeError:
        fail(
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
    typer.echo(summary(found), err=True)
    try:
        confirmed = typer.confirm("Replace the current database?", default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        fail("not confirmed (pass --yes to skip the question). Nothing changed")


def _keep_side_copy(database: Path) -> Path:
    """Copy the database about to be replaced to ``<name>.before-restore-<UTC time>``."""
    stamp = SystemClock().now().strftime("%Y%m%dT%H%M%SZ")
    name = f"{database.name}.before-restore-{stamp}"
    kept, n = database.with_name(name), 1
    while kept.exists():
        n += 1
        kept = database.with_name(f"{name}-{n}")
    try:
        sqlite_backup.side_copy(database, kept)
    except BackupError as exc:
        fail(f"{exc} (--no-side-copy restores without keeping it). Nothing changed")
    return kept


async def _record_restore(staged: Path, by: Operator, changes: dict[str, list[Any]]) -> None:
    """The restore's own audit event, written into the copy that becomes the database, so the
    trail shows when and from what the data came back."""
    database = open_database(f"sqlite:///{staged}")
    try:
        async with unit_of_work(database, write=True) as store:
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


def _report(
    database: Path, backup_file: Path, migrated_from: str | None, kept: Path | None, as_json: bool
) -> None:
    try:
        restored = sqlite_backup.inspect(database)
    except BackupError as exc:
        fail(f"restored, but the result does not check out: {exc}")
    data = describe(restored)
    data["restoredFrom"] = str(backup_file.absolute())
    data["migratedFrom"] = migrated_from
    data["sideCopy"] = str(kept.absolute()) if kept else None
    data["restartNeeded"] = True
    text = [f"restored {data['path']} from {data['restoredFrom']}", summary(restored)]
    if migrated_from:
        text.append(f"  (migrated from schema {migrated_from})")
    if kept:
        text.append(f"the replaced database is kept at {data['sideCopy']}")
    if not restored.signing_keys:
        text.append("it holds no signing key: run `keyloft init` to make one")
    text.append(RESTART_NOTE)
    emit(data, as_json, "\n".join(text))
