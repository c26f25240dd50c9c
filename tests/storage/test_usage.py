"""The usage repository: a batch adds to the counts already stored (one statement per 1,000
counters), reads sum per client or per org and hour, the top clients are ranked by tokens,
and a purge forgets the hours before its cutoff."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from keyloft.domain.usage import ALLOWED, AUTH_FAILURES, DENIED, TOKENS, hour_of
from keyloft.services.ports import UsageKey
from keyloft.storage.repositories.usage import CHUNK
from keyloft.storage.store import Database
from tests.support.seeds import NOW, make_client, seed

HOUR = hour_of(NOW)
NEXT = HOUR + timedelta(hours=1)


async def _add(database: Database, counts: dict[UsageKey, int]) -> None:
    async with database.unit_of_work(write=True) as store:
        await store.usage.add(counts)


async def test_batches_add_to_the_stored_counts(database: Database) -> None:
    acme = await seed(database)
    client = await make_client(database, acme)
    org = acme.org.id
    await _add(database, {(org, client.id, HOUR, TOKENS, ""): 2})
    await _add(
        database,
        {
            (org, client.id, HOUR, TOKENS, ""): 3,
            (org, client.id, HOUR, AUTH_FAILURES, "invalid_client"): 1,
            (org, client.id, NEXT, ALLOWED, ""): 4,
        },
    )
    async with database.unit_of_work(write=False) as store:
        rows = await store.usage.client_hours(client.id, HOUR, NEXT + timedelta(hours=1))
        later = await store.usage.client_hours(client.id, NEXT, NEXT + timedelta(hours=1))
    assert sorted((row.hour, row.metric, row.reason, row.count) for row in rows) == [
        (HOUR, AUTH_FAILURES, "invalid_client", 1),
        (HOUR, TOKENS, "", 5),
        (NEXT, ALLOWED, "", 4),
    ]
    assert [(row.metric, row.count) for row in later] == [(ALLOWED, 4)]


async def test_org_sums_top_clients_and_other_orgs(database: Database) -> None:
    acme, globex = await seed(database), await seed(database, "Globex")
    busy = await make_client(database, acme, name="busy")
    quiet = await make_client(database, acme, name="quiet")
    foreign = await make_client(database, globex, name="foreign")
    await _add(
        database,
        {
            (acme.org.id, busy.id, HOUR, TOKENS, ""): 10,
            (acme.org.id, busy.id, HOUR, DENIED, ""): 1,
            (acme.org.id, quiet.id, HOUR, TOKENS, ""): 1,
            (acme.org.id, quiet.id, NEXT, TOKENS, ""): 1,
            (globex.org.id, foreign.id, HOUR, TOKENS, ""): 100,
        },
    )
    async with database.unit_of_work(write=False) as store:
        rows = await store.usage.org_hours(acme.org.id, HOUR, NEXT + timedelta(hours=1))
        top = await store.usage.top_clients(acme.org.id, HOUR, NEXT + timedelta(hours=1), limit=10)
        first = await store.usage.top_clients(acme.org.id, HOUR, NEXT, limit=1)
    assert sorted((row.hour, row.metric, row.count) for row in rows) == [
        (HOUR, DENIED, 1),
        (HOUR, TOKENS, 11),
        (NEXT, TOKENS, 1),
    ]
    assert top == [(busy.id, {TOKENS: 10, DENIED: 1}), (quiet.id, {TOKENS: 2})]
    assert first == [(busy.id, {TOKENS: 10, DENIED: 1})]


async def test_a_large_batch_is_one_statement_per_chunk(database: Database) -> None:
    acme = await seed(database)
    client = await make_client(database, acme)
    counts: dict[UsageKey, int] = {
        (acme.org.id, client.id, HOUR - timedelta(hours=n), TOKENS, ""): 1 for n in range(CHUNK + 1)
    }
    seen: list[str] = []

    def watch(*args: object) -> None:
        if "client_usage" in str(args[2]):
            seen.append(str(args[2]))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        await _add(database, counts)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert len(seen) == 2
    async with database.unit_of_work(write=False) as store:
        rows = await store.usage.client_hours(client.id, HOUR - timedelta(days=60), NEXT)
    assert len(rows) == CHUNK + 1


async def test_purge_forgets_hours_before_the_cutoff(database: Database) -> None:
    acme = await seed(database)
    client = await make_client(database, acme)
    old = HOUR - timedelta(days=401)
    await _add(
        database,
        {
            (acme.org.id, client.id, old, TOKENS, ""): 1,
            (acme.org.id, client.id, HOUR, TOKENS, ""): 1,
        },
    )
    async with database.unit_of_work(write=True) as store:
        assert await store.usage.purge(HOUR - timedelta(days=400)) == 1
    async with database.unit_of_work(write=False) as store:
        rows = await store.usage.client_hours(client.id, old, NEXT)
    assert [row.hour for row in rows] == [HOUR]
