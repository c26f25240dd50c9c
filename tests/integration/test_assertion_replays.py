"""Single use of client assertions and DPoP proofs across nodes: Redis ``SET NX`` with the
expiry, failing closed (503, never accepted) when Redis does not answer; the file beside a
SQLite database, shared by its processes, whose claims never look like a change of the database
to the workers' watch; and the store's check. Expired entries are purged."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from keyloft.cache.replay import PREFIX, RedisReplays
from keyloft.cache.sqlite_replay import SqliteReplays, path_beside
from keyloft.cache.sqlite_watch import DataVersionWatch
from keyloft.domain.errors import StoreUnavailable
from keyloft.runtime import Runtime
from keyloft.services.replays import StoreReplays
from tests.support.redis_servers import free_port, reachable_redis
from tests.support.waiting import eventually


@pytest.mark.redis
async def test_redis_accepts_a_key_once_and_forgets_it_when_it_expires() -> None:
    redis = await reachable_redis()
    try:
        first, second = RedisReplays(redis), RedisReplays(redis)  # two nodes, one Redis
        key = uuid.uuid4().hex
        expires = datetime.now(UTC) + timedelta(seconds=90)
        assert await first.first_use(key, expires) is True
        assert await second.first_use(key, expires) is False
        assert await first.first_use(key, expires) is False
        ttl = await redis.ttl(PREFIX + key)
        assert 80 <= ttl <= 91
    finally:
        await redis.aclose()


async def test_without_redis_the_check_fails_closed() -> None:
    gone = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    try:
        with pytest.raises(StoreUnavailable) as unavailable:
            await RedisReplays(gone).first_use("k", datetime.now(UTC) + timedelta(seconds=60))
        assert unavailable.value.retry_after == 1
    finally:
        await gone.aclose()


async def test_the_store_accepts_a_key_once_and_purges_it_after_it_expires(
    runtime: Runtime,
) -> None:
    replays = StoreReplays(runtime.transaction)
    now = datetime.now(UTC)
    assert await replays.first_use("old", now - timedelta(seconds=1)) is True
    assert await replays.first_use("new", now + timedelta(seconds=60)) is True
    assert await replays.first_use("new", now + timedelta(seconds=60)) is False
    assert await replays.purge(now) == 1
    assert await replays.first_use("old", now + timedelta(seconds=60)) is True
    assert await replays.first_use("new", now + timedelta(seconds=60)) is False


async def test_processes_of_a_sqlite_node_share_the_file_beside_the_database(
    tmp_path: Path,
) -> None:
    path = path_beside(tmp_path / "keyloft.db")
    first, second = SqliteReplays(path), SqliteReplays(path)  # as two worker processes
    try:
        now = datetime.now(UTC)
        assert await first.first_use("k", now + timedelta(seconds=60)) is True
        assert await second.first_use("k", now + timedelta(seconds=60)) is False
        assert await second.first_use("old", now - timedelta(seconds=1)) is True
        assert await first.purge(now) == 1
        assert await first.first_use("old", now + timedelta(seconds=60)) is True
    finally:
        first.close()
        second.close()


async def test_a_claim_while_another_worker_writes_waits_for_it_off_the_loop(
    tmp_path: Path,
) -> None:
    """The loop's own connection never waits: while another process holds the file's write
    lock, a claim goes to a worker thread, which waits for the lock and then claims."""
    path = path_beside(tmp_path / "keyloft.db")
    replays = SqliteReplays(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        until = datetime.now(UTC) + timedelta(seconds=60)
        other.execute("BEGIN IMMEDIATE")  # another worker, mid-write
        claim = asyncio.create_task(replays.first_use("busy", until))
        await eventually(lambda: replays._lock.locked())  # it went to the thread
        assert not claim.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(claim, 5) is True
        assert await replays.first_use("busy", until) is False  # and on the loop again
        assert not replays._lock.locked()
    finally:
        other.close()
        replays.close()


async def test_a_claim_is_no_change_of_the_database_to_the_workers_watch(
    runtime: Runtime, database_url: str
) -> None:
    """Each claim commits to its own file: a worker's look at ``data_version`` of the database
    sees nothing, so no worker drops its cached client state for a proof or an assertion."""
    database = runtime.settings.sqlite_path
    if database is None:  # PostgreSQL without Redis: the store keeps them, watched by no one
        assert isinstance(runtime.replays, StoreReplays)
        return
    assert isinstance(runtime.replays, SqliteReplays)
    drops: list[int] = []
    watch = DataVersionWatch(database, lambda: drops.append(1), interval=0)
    try:
        for _ in range(5):
            assert await runtime.replays.first_use(
                uuid.uuid4().hex, datetime.now(UTC) + timedelta(seconds=60)
            )
            watch.check()
        assert drops == []
        async with runtime.database.unit_of_work(write=True) as store:  # a real change does
            await store.used_assertions.claim("d" * 64, datetime.now(UTC))
        watch.check()
        assert drops == [1]
    finally:
        watch.close()
