"""Fixtures for the console's server-side tests (helpers: ``tests.support.console``)."""

from __future__ import annotations

import pytest

from tests.support.redis_servers import reachable_redis, redis_server


@pytest.fixture
async def redis_url() -> str:
    """The test Redis server; skipped without one, except under CI where that fails."""
    client = await reachable_redis()
    await client.aclose()
    return redis_server()
