"""``keyloft keys rotate`` under a running node with Redis: the CLI announces the change on
the bus and the node reloads its key ring within a second, without waiting for its periodic
refresh."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from keyloft.cli.main import app as cli
from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from tests.support.api import SERVER_SECRET
from tests.support.redis_servers import DEFAULT_REDIS
from tests.support.waiting import eventually


@pytest.fixture
def redis_url(redis: Redis) -> str:
    return os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)


@pytest.fixture
async def node(settings: Settings, database: Database, redis_url: str) -> AsyncIterator[Runtime]:
    runtime = await build_runtime(
        settings.model_copy(update={"redis_url": redis_url}), database=database
    )
    try:
        await eventually(lambda: runtime.bus.healthy, within=5)
        await runtime.copies.settle()  # the reload on subscribing is done: only the bus is left
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def cli_env(settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEYLOFT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEYLOFT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KEYLOFT_SECRET_KEY", SERVER_SECRET)
    monkeypatch.setenv("KEYLOFT_REDIS_URL", redis_url)


async def keys_command(*args: str) -> dict[str, object]:
    """Run the CLI off the event loop (it runs one of its own)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["keys", *args, "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: Redis unreachable" not in result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.usefixtures("cli_env")
async def test_a_rotation_reaches_a_running_node_over_the_bus_within_a_second(
    node: Runtime,
) -> None:
    before = node.key_ring.kids()
    rotated = await keys_command("rotate", "--publish-delay", "0")
    kid = rotated["kid"]
    assert kid not in before
    took = await eventually(lambda: node.key_ring.active.kid == kid, within=1.0)
    assert took < 1.0
    assert node.key_ring.kids() == [*before, kid]

    retired = await keys_command("retire", str(kid))
    assert retired["state"] == "retired"
    await eventually(lambda: node.key_ring.active.kid == before[-1], within=1.0)
    assert kid in node.key_ring.kids()  # still published for the tokens it signed
