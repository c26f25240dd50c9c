"""Single use across the worker processes of a SQLite node without Redis, in a file of its own
beside the database (``keyloft.db-used``).

Why not the database itself: a commit there moves ``PRAGMA data_version`` for every other
connection, which is how a worker notices another's changes (``sqlite_watch``) — so a commit
per assertion or DPoP proof would make every worker drop its cached client state on every such
request. A commit to another file moves nothing the watch looks at. What it holds is only the
digests of the proofs and assertions used, until they expire: losing it in a crash re-opens
nothing older than a proof's few minutes of life, so it is written without waiting for the disk
(``synchronous=OFF``), each claim one statement in autocommit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path

from keyloft.domain.errors import StoreUnavailable

SUFFIX = "-used"
_SCHEMA = "CREATE TABLE IF NOT EXISTS used (digest TEXT PRIMARY KEY, expires_at REAL NOT NULL)"


def path_beside(database: Path) -> Path:
    return database.with_name(database.name + SUFFIX)


class SqliteReplays:
    """Implements ``keyloft.services.ports.ReplayGuard`` in a SQLite file shared by the node's
    worker processes."""

    def __init__(self, path: Path) -> None:
        # One connection per process, used from worker threads one call at a time.
        self._connection = sqlite3.connect(
            path, timeout=5, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.execute(_SCHEMA)
        # And one for the event loop's thread, which never waits for another writer: a claim
        # is one INSERT of about 20 µs, cheaper on the loop than a hop to a worker thread and
        # back; only when the file is busy (another worker writing) does it take the hop.
        self._quick = sqlite3.connect(
            path, timeout=0, isolation_level=None, check_same_thread=False
        )
        self._quick.execute("PRAGMA synchronous=OFF")
        self._lock = asyncio.Lock()

    @staticmethod
    def _claim(connection: sqlite3.Connection, key: str, expires_at: float) -> bool:
        cursor = connection.execute(
            "INSERT OR IGNORE INTO used (digest, expires_at) VALUES (?, ?)", (key, expires_at)
        )
        return cursor.rowcount == 1

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        until = expires_at.timestamp()
        try:
            if not self._lock.locked():
                try:
                    return self._claim(self._quick, key, until)
                except sqlite3.OperationalError:
                    pass  # the file is busy: wait for it off the loop
            async with self._lock:
                return await asyncio.to_thread(self._claim, self._connection, key, until)
        except sqlite3.Error:
            raise StoreUnavailable(
                "The replay check is unavailable; try again shortly.", retry_after=1
            ) from None

    def _purge(self, now: float) -> int:
        return self._connection.execute("DELETE FROM used WHERE expires_at < ?", (now,)).rowcount

    async def purge(self, now: datetime) -> int:
        async with self._lock:
            return await asyncio.to_thread(self._purge, now.timestamp())

    def close(self) -> None:
        self._quick.close()
        self._connection.close()
