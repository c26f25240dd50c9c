"""The SQLite data-version watch, and how the node's copies follow what it notices."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from keyloft.cache import node
from keyloft.cache.client_state import ClientStateCache
from keyloft.cache.node import NodeCopies
from keyloft.cache.revocations import RevokedTokens
from keyloft.cache.sqlite_watch import DataVersionWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def writer(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return connection


def test_a_commit_by_another_connection_is_noticed_once(tmp_path: Path) -> None:
    path = tmp_path / "watched.db"
    other = writer(path)
    seen: list[int] = []
    clock = Clock()
    watch = DataVersionWatch(path, lambda: seen.append(1), interval=0.001, monotonic=clock)
    try:
        watch.check()
        assert seen == []
        other.execute("INSERT INTO t VALUES (1)")
        clock.now += 0.002
        watch.check()
        assert seen == [1]
        clock.now += 0.002
        watch.check()
        assert seen == [1], "nothing new was committed"
        other.execute("BEGIN")
        other.execute("INSERT INTO t VALUES (2)")
        clock.now += 0.002
        watch.check()
        assert seen == [1], "an open transaction is not a change yet"
        other.execute("COMMIT")
        clock.now += 0.002
        watch.check()
        assert seen == [1, 1]
    finally:
        watch.close()
        other.close()


def test_looks_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "watched.db"
    other = writer(path)
    seen: list[int] = []
    clock = Clock()
    watch = DataVersionWatch(path, lambda: seen.append(1), interval=0.005, monotonic=clock)
    try:
        watch.check()
        other.execute("INSERT INTO t VALUES (1)")
        clock.now += 0.004
        watch.check()
        assert seen == [], "within the interval nothing is asked"
        clock.now += 0.002
        watch.check()
        assert seen == [1]
        watch.close()
        other.execute("INSERT INTO t VALUES (2)")
        clock.now += 1
        watch.check()
        assert seen == [1], "a closed watch does nothing"
    finally:
        other.close()


def test_an_unreadable_database_counts_as_a_change(tmp_path: Path) -> None:
    path = tmp_path / "watched.db"
    writer(path).close()
    seen: list[int] = []
    clock = Clock()
    watch = DataVersionWatch(path, lambda: seen.append(1), monotonic=clock)
    watch._connection.close()  # every later question fails
    clock.now += 1
    watch.check()
    clock.now += 1
    watch.check()
    assert seen == [1, 1]


async def test_revocations_are_trusted_only_after_a_reload_begun_after_the_last_change() -> None:
    cache = ClientStateCache()
    revoked = RevokedTokens()
    revoked.enabled = True
    gate = asyncio.Event()
    reloads: list[int] = []

    async def refresh() -> None:
        reloads.append(len(reloads))
        if len(reloads) == 1:
            await gate.wait()

    copies = NodeCopies(cache, revoked, refresh=refresh)
    generation = cache.generation()
    copies.stale()
    assert cache.generation() > generation, "reads in flight must not be cached"
    assert revoked.known_revoked("jti") is None
    await asyncio.sleep(0)
    assert reloads == [0]
    copies.stale()  # a second change while the first reload runs
    gate.set()
    await copies.settle()
    assert reloads == [0, 1]
    assert revoked.enabled is True


async def test_a_failed_reload_keeps_asking_the_store_and_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(node, "RELOAD_RETRY_SECONDS", 0.0)
    revoked = RevokedTokens()
    revoked.enabled = True
    attempts: list[bool] = []

    async def refresh() -> None:
        attempts.append(revoked.enabled)
        if len(attempts) < 3:
            raise OSError("store away")

    copies = NodeCopies(ClientStateCache(), revoked, refresh=refresh)
    copies.stale()
    await copies.settle()
    assert attempts == [False, False, False], "distrusted while the store is away"
    assert revoked.enabled is True
