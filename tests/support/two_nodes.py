"""Two nodes of one deployment in this process: each its own runtime and engine on one store,
sharing a Redis server in the "redis" variant, or (without Redis) saying they are several
processes, as `keyloft serve --workers` does, so single-use checks go to the file beside a
SQLite database or to the PostgreSQL store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from keyloft.cache.replay import RedisReplays
from keyloft.cache.sqlite_replay import SqliteReplays
from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.replays import StoreReplays
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL
from tests.support.redis_servers import reachable_redis, redis_server
from tests.support.waiting import eventually

Nodes = tuple[httpx.AsyncClient, httpx.AsyncClient]
VARIANTS = ("store", "redis")


@asynccontextmanager
async def two_nodes(settings: Settings, variant: str) -> AsyncIterator[tuple[Nodes, list[Runtime]]]:
    """Nodes A and B on the store of ``settings`` (already prepared), as ``variant`` says."""
    if variant == "redis":
        probe = await reachable_redis()  # skipped (failed under CI) when there is none
        await probe.aclose()
        shared = settings.model_copy(update={"redis_url": redis_server()})
    else:
        shared = settings.model_copy(update={"workers": 2})
    runtimes: list[Runtime] = []
    clients: list[httpx.AsyncClient] = []
    try:
        for _ in range(2):
            rt = await build_runtime(shared, database=Database(create_engine(shared.database_url)))
            runtimes.append(rt)
            transport = httpx.ASGITransport(app=create_app(runtime=rt))
            clients.append(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        assert runtimes[0].database.engine is not runtimes[1].database.engine
        # Where each node keeps what was used once: the variant's own place.
        kept_by: type = (
            RedisReplays
            if variant == "redis"
            else SqliteReplays
            if shared.is_sqlite
            else StoreReplays
        )
        for rt in runtimes:
            assert isinstance(rt.replays, kept_by), rt.replays
        if variant == "redis":
            for rt in runtimes:
                await eventually(lambda rt=rt: rt.bus.healthy, within=10)
        yield (clients[0], clients[1]), runtimes
    finally:
        for client in clients:
            await client.aclose()
        for rt in runtimes:
            await rt.close()  # these engines are ours: dispose them
