"""lastUsedOn: when a token was last minted for a client, to the minute, written in batches
(never a database write per token), never moving backward, and shown at once by the node
that minted it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from keyloft.domain.errors import StoreUnavailable
from keyloft.runtime import Runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from tests.support.api import OrgFixture, create_client, mint

CLIENTS = "/v3/integrations/clients"


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def parse_v3(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


async def shown(http: httpx.AsyncClient, org: OrgFixture, key: str) -> str | None:
    answer = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert answer.status_code == 200, answer.text
    value: str | None = answer.json()["data"]["lastUsedOn"]
    return value


async def stored(database: Database, org: OrgFixture, key: str) -> datetime | None:
    async with database.unit_of_work(write=False) as store:
        client = await store.clients.get(org.id, key)
    assert client is not None
    return client.last_used_on


@pytest.fixture
def client_writes(database: Database) -> Iterator[list[str]]:
    """Every statement that writes the clients table, as the database driver sees it."""
    seen: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE CLIENTS"):
            seen.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", watch)
    yield seen
    event.remove(engine, "before_cursor_execute", watch)


async def test_a_new_client_was_never_used(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    assert created["lastUsedOn"] is None
    assert await shown(http, org, created["clientKey"]) is None
    listed = await http.get(CLIENTS, headers=org.auth)
    assert [c["lastUsedOn"] for c in listed.json()["data"]] == [None]


async def test_both_token_endpoints_record_the_minute(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, database: Database
) -> None:
    v3 = await create_client(http, org, name="v3")
    oauth = await create_client(http, org, name="oauth")
    before = minute(datetime.now(UTC))
    await mint(http, v3["clientKey"], v3["clientSecret"])
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(oauth["clientKey"], oauth["clientSecret"]),
    )
    assert answer.status_code == 200, answer.text
    after = datetime.now(UTC)

    for client in (v3, oauth):
        text = await shown(http, org, client["clientKey"])
        assert text is not None
        assert text.endswith("+0530")  # the org's time zone, like every v3 date
        used = parse_v3(text)
        assert (used.second, used.microsecond) == (0, 0)
        assert before <= used <= after
        # Shown by this node before it is written; written by the next flush.
        assert await stored(database, org, client["clientKey"]) is None
    assert await runtime.flush_usage() == 2
    for client in (v3, oauth):
        assert await stored(database, org, client["clientKey"]) == parse_v3(
            await shown(http, org, client["clientKey"]) or ""
        )
    listed = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert all(c["lastUsedOn"] is not None for c in listed)


async def test_under_load_minting_writes_nothing_and_a_flush_writes_once(
    http: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    database: Database,
    client_writes: list[str],
) -> None:
    clients = [await create_client(http, org, name=f"busy-{n}") for n in range(3)]
    idle = await create_client(http, org, name="idle")
    client_writes.clear()

    async def burst(client: dict[str, Any]) -> None:
        for _ in range(40):
            await mint(http, client["clientKey"], client["clientSecret"])

    await asyncio.gather(*(burst(client) for client in clients for _ in range(3)))
    assert client_writes == []  # 360 tokens, no write
    assert await runtime.flush_usage() == 3
    assert len(client_writes) == 1  # one batched statement for the three clients
    for client in clients:
        assert await stored(database, org, client["clientKey"]) is not None
    assert await stored(database, org, idle["clientKey"]) is None
    assert await runtime.flush_usage() == 0  # nothing new: nothing written
    assert len(client_writes) == 1


async def test_a_later_use_is_never_overwritten_by_an_earlier_one(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    """Nodes flush independently: an older batch arriving late must not move time back."""
    created = await create_client(http, org)
    async with database.unit_of_work(write=False) as store:
        client = await store.clients.get(org.id, created["clientKey"])
    assert client is not None
    late = minute(datetime.now(UTC))
    early = late - timedelta(minutes=5)
    for moment in (late, early):
        async with database.unit_of_work(write=True) as store:
            await store.clients.record_use({client.id: moment})
    assert await stored(database, org, created["clientKey"]) == late
    async with database.unit_of_work(write=False) as store:
        after = await store.clients.get(org.id, created["clientKey"])
    assert after is not None
    assert after.version == client.version  # a use is not a change: the ETag stays


async def test_a_failed_flush_keeps_the_uses_for_the_next(
    http: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    database: Database,
    tmp_path: Path,
) -> None:
    created = await create_client(http, org)
    await mint(http, created["clientKey"], created["clientSecret"])
    real = runtime.database
    # A database that cannot be opened: its directory does not exist.
    runtime.database = Database(create_engine(f"sqlite:///{tmp_path}/absent/keyloft.db"))
    try:
        with pytest.raises(StoreUnavailable):
            await runtime.flush_usage()
    finally:
        await runtime.database.dispose()
        runtime.database = real
    assert len(runtime.usage) == 1
    assert await stored(database, org, created["clientKey"]) is None
    assert await runtime.flush_usage() == 1
    assert await stored(database, org, created["clientKey"]) is not None


async def test_stopping_a_node_writes_its_last_uses(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, database: Database
) -> None:
    created = await create_client(http, org)
    await mint(http, created["clientKey"], created["clientSecret"])
    await runtime.stop()
    assert await stored(database, org, created["clientKey"]) is not None
