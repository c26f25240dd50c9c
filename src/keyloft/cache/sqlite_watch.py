"""Noticing, without Redis, that another worker process committed to the SQLite database.

Worker processes of one SQLite node share no bus. Each keeps one dedicated connection, which
never writes, and asks it ``PRAGMA data_version``: a per-connection counter that changes
whenever any *other* connection (another worker, this worker's own pool, the command line)
commits to the database file. The question reads no table and costs about ten microseconds,
so it is asked at most once per ``interval`` seconds, right before the node's copies are
trusted; when the counter moved, every copy is dropped (``on_change``). Cached state is
therefore at most ``interval`` seconds behind a commit made anywhere.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("keyloft.cache")
DEFAULT_INTERVAL = 0.001


class DataVersionWatch:
    def __init__(
        self,
        path: Path,
        on_change: Callable[[], None],
        *,
        interval: float = DEFAULT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # timeout=0: never wait on a lock in the event loop; an unanswered question counts as
        # a change, which only costs a cache miss.
        self._connection = sqlite3.connect(
            path, timeout=0, isolation_level=None, check_same_thread=False
        )
        self._cursor = self._connection.cursor()
        self._on_change = on_change
        self._interval = interval
        self._now = monotonic
        self._next = 0.0
        self._version = self._read()
        self.changes_seen = 0

    def _read(self) -> int | None:
        try:
            self._cursor.execute("PRAGMA data_version")
            row = self._cursor.fetchone()
        except sqlite3.Error as exc:
            log.debug("data_version unreadable: %s", type(exc).__name__)
            return None
        return int(row[0]) if row else None

    def check(self) -> None:
        """Drop the copies if anything was committed since the last look (throttled)."""
        now = self._now()
        if now < self._next:
            return
        self._next = now + self._interval
        version = self._read()
        if version is None or version != self._version:
            self._version = version
            self.changes_seen += 1
            self._on_change()

    def close(self) -> None:
        """Stop looking (shutdown): later checks do nothing. Closing twice is harmless."""
        if self._next == math.inf:
            return
        self._next = math.inf
        self._cursor.close()
        self._connection.close()
