"""SQLite backup and restore: consistent copies of a live database through SQLite's online
backup API, checked (integrity, Keyloft schema revision) before they are trusted.

Copies are written to a temporary file beside their destination, flushed to disk, and only
then given their name, so a crash never leaves a half-written file under that name. Every file
made here is owner-only (0600): it holds client secret hashes and encrypted signing keys.

Restore copies a staged database into the live file with the same backup API rather than
renaming a file over it. The copy is one SQLite write transaction on the live database: it
waits for the write lock like any writer, goes through the live file's write-ahead log, and
readers see either the old database or the new one, never a mixture. Renaming instead would
pair the new file with the old database's ``-wal``/``-shm`` files (SQLite would replay the old
log into the new file) and leave running processes reading the unlinked old file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from alembic.script import ScriptDirectory

from keyloft.storage.migrate import alembic_config

_BUSY_SECONDS = 30.0
_SIDECARS = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message is meant for the operator."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a checked Keyloft database holds."""

    path: Path
    size: int
    revision: str
    orgs: int
    clients: int
    active_clients: int
    signing_keys: int


def known_revisions() -> list[str]:
    """The schema revisions this code can migrate, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection that never creates ``path`` (``mode=rw``/``ro``)."""
    mode = "ro" if read_only else "rw"
    uri = f"file:{quote(str(path.absolute()))}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=_BUSY_SECONDS, isolation_level=None)


@contextlib.contextmanager
def _open(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    connection = _connect(path, read_only=read_only)
    try:
        yield connection
    finally:
        connection.close()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some platforms cannot open directories, nothing to do.
    with contextlib.suppress(OSError):
        _fsync_file(directory)


def _remove_with_sidecars(path: Path) -> None:
    for name in (path.name, *(path.name + suffix for suffix in _SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            (path.parent / name).unlink()


def _temporary_beside(destination: Path) -> Path:
    fd, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
    )
    os.close(fd)
    return Path(name)


def inspect(path: Path, *, named: str | None = None) -> Snapshot:
    """Check ``path`` is an intact Keyloft database and count what it holds; messages call it
    ``named`` (a copy is checked in place of the file the operator knows)."""
    name = named or str(path)
    if not path.is_file():
        raise BackupError(f"{name} is not a file")
    try:
        with _open(path, read_only=True) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise BackupError(f"{name} is damaged: {'; '.join(map(str, problems))}")
            revision = _revision(connection, name)
            orgs, clients, active, keys = connection.execute(
                "SELECT (SELECT count(*) FROM orgs), (SELECT count(*) FROM clients),"
                " (SELECT count(*) FROM clients WHERE is_valid),"
                " (SELECT count(*) FROM signing_keys)"
            ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name} is not a readable SQLite database ({exc})") from exc
    return Snapshot(path, path.stat().st_size, revision, orgs, clients, active, keys)


def _revision(connection: sqlite3.Connection, name: str) -> str:
    has_table = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if not has_table:
        raise BackupError(f"{name} is not a Keyloft database (it has no schema revision)")
    found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(found) != 1 or not found[0][0]:
        raise BackupError(f"{name} is not a Keyloft database (its schema revision is unreadable)")
    return str(found[0][0])


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """Copy ``source`` into the empty file ``target`` as one self-contained file: the copy is
    taken from a single read transaction, and left in rollback-journal mode so that it needs
    no ``-wal`` file beside it."""
    with _open(target) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")


def backup(source: Path, destination: Path, *, overwrite: bool) -> Snapshot:
    """Copy the live database ``source`` to ``destination``, check the copy, then name it.

    Writers keep writing meanwhile: the copy holds every transaction committed before it
    started and none after. An existing ``destination`` is replaced only with ``overwrite``.
    """
    checked = _write_copy(source, destination, overwrite=overwrite, check=True)
    assert checked is not None
    return checked


def side_copy(source: Path, destination: Path) -> None:
    """Copy a database about to be replaced, whatever it holds (it may be replaced because it
    is damaged), to ``destination``, which must not exist."""
    _write_copy(source, destination, overwrite=False, check=False)


def _write_copy(
    source: Path, destination: Path, *, overwrite: bool, check: bool
) -> Snapshot | None:
    if not source.is_file():
        raise BackupError(f"no database at {source}: run `keyloft init`")
    if destination.is_dir():
        raise BackupError(f"{destination} is a directory: name the backup file")
    if not destination.parent.is_dir():
        raise BackupError(f"directory {destination.parent} does not exist")
    if destination.exists():
        if destination.samefile(source):
            raise BackupError("the backup cannot replace the database it copies")
        if not overwrite:
            raise BackupError(f"{destination} exists: pass --force to replace it")
    try:
        partial = _temporary_beside(destination)
    except OSError as exc:
        raise BackupError(f"cannot write in {destination.parent}: {exc.strerror}") from exc
    try:
        try:
            with _open(source, read_only=True) as live:
                _copy(live, partial)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot copy {source} ({exc})") from exc
        checked = inspect(partial, named=f"the copy of {source}") if check else None
        _fsync_file(partial)
        _publish(partial, destination, overwrite=overwrite)
    except OSError as exc:
        raise BackupError(f"cannot write {destination}: {exc.strerror}") from exc
    finally:
        _remove_with_sidecars(partial)
    return None if checked is None else replace(checked, path=destination)


def _publish(partial: Path, destination: Path, *, overwrite: bool) -> None:
    """Give ``partial`` its final name atomically; without ``overwrite`` a file that appeared
    at ``destination`` meanwhile is never replaced (a hard link fails if the name is taken)."""
    if overwrite:
        os.replace(partial, destination)
    else:
        try:
            os.link(partial, destination)
        except FileExistsError as exc:
            raise BackupError(f"{destination} exists: pass --force to replace it") from exc
        except OSError:
            # Filesystems without hard links: the check above is the best there is.
            if destination.exists():
                raise BackupError(f"{destination} exists: pass --force to replace it") from None
            os.replace(partial, destination)
    _fsync_directory(destination.parent)


def stage(backup_file: Path, directory: Path) -> tuple[Path, Snapshot]:
    """Copy ``backup_file`` into a new temporary file in ``directory`` (the backup itself is
    only read) and check the copy; the caller removes it with ``discard``."""
    if not backup_file.is_file():
        raise BackupError(f"no backup file at {backup_file}")
    try:
        staged = _temporary_beside(directory / "keyloft-restore")
    except OSError as exc:
        raise BackupError(f"cannot write in {directory}: {exc.strerror}") from exc
    try:
        try:
            with _open(backup_file, read_only=True) as source:
                _copy(source, staged)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup_file} is not a readable SQLite database ({exc})") from exc
        checked = inspect(staged, named=str(backup_file))
    except BaseException:
        discard(staged)
        raise
    return staged, checked


def discard(path: Path) -> None:
    """Remove a staged file and any journal SQLite left beside it."""
    _remove_with_sidecars(path)


def replace_live(staged: Path, target: Path) -> None:
    """Make the database at ``target`` (created owner-only if missing) hold exactly what
    ``staged`` holds, in one transaction on ``target``."""
    try:
        if not target.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with _open(staged, read_only=True) as source, _open(target) as live:
            # The restore must survive a power cut once this returns, whatever the service's
            # own (faster, NORMAL) setting is.
            live.execute("PRAGMA synchronous=FULL")
            source.backup(live)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise BackupError(f"cannot write {target} ({exc}); it is unchanged") from exc
