"""Integration tests: every test touching the store runs on SQLite and on PostgreSQL, each a
database that commits for real (other nodes and processes must see its writes); real Redis,
the shared server and a private one a test may kill.

The shared Redis comes from KEYLOFT_TEST_REDIS_URL (default the local one). Without it, or
without PostgreSQL, the tests are skipped with the reason, except under CI (CI=true), where
they fail instead. Helpers live in ``tests.support.redis_servers`` and
``tests.support.waiting``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.redis_servers import RedisProcess, reachable_redis
from tests.support.stores import STORES


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path}/keyloft.db"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = await reachable_redis()
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()
