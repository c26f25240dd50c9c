"""The org repository: orgs read back as written, names are unique and matched exactly, and
``lock`` serialises the writers of one org's clients."""

from __future__ import annotations

import asyncio

import pytest

from keyloft.domain.errors import StoreConflict
from keyloft.storage.store import Database
from tests.support.seeds import Seeded, add_client, add_org, seed

TIMEZONES = [
    "UTC",
    "Asia/Kolkata",
    "Europe/Berlin",
    "America/New_York",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "America/Argentina/Buenos_Aires",
    "Africa/Casablanca",
]
NAMES = [
    "Acme",
    "acme corp.",
    "Café Zürich",
    "東京支店",
    "O'Brien & Sons",
    'The "Quoted" Org',
    "back\\slash",
    "100% _wild_ cards",
    "  padded  ",
    "x" * 200,
    "🚀 Rockets",
]


@pytest.mark.parametrize("timezone", TIMEZONES)
async def test_an_org_reads_back_with_its_zone(database: Database, timezone: str) -> None:
    async with database.unit_of_work(write=True) as store:
        added = await add_org(store, "Zoned", timezone=timezone)
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.get(added.id) == added
    assert added.timezone == timezone


@pytest.mark.parametrize("name", NAMES)
async def test_an_org_name_reads_back_exactly(database: Database, name: str) -> None:
    async with database.unit_of_work(write=True) as store:
        added = await add_org(store, name)
    async with database.unit_of_work(write=False) as store:
        found = await store.orgs.find_by_name(name)
        by_id = await store.orgs.get(added.id)
    assert found == by_id == added
    assert added.name == name


@pytest.mark.parametrize(
    ("max_clients", "max_token_ttl"), [(1, 1), (15, 3600), (100_000, 30 * 24 * 3600)]
)
async def test_an_orgs_limits_read_back(
    database: Database, max_clients: int, max_token_ttl: int
) -> None:
    async with database.unit_of_work(write=True) as store:
        added = await add_org(store, max_clients=max_clients, max_token_ttl=max_token_ttl)
    async with database.unit_of_work(write=False) as store:
        found = await store.orgs.get(added.id)
    assert found is not None
    assert (found.max_clients, found.max_token_ttl) == (max_clients, max_token_ttl)


@pytest.mark.parametrize("org_id", [0, -1, 987_654_321, 2**63 - 1])
async def test_an_unknown_id_finds_nothing(database: Database, org_id: int) -> None:
    async with database.unit_of_work(write=True) as store:
        await add_org(store)
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.get(org_id) is None


@pytest.mark.parametrize(
    "asked",
    [
        *("acme", "ACME", "Acme ", " Acme", "Acm", "Acme Corp", "Acm%", "Acm_", "A%"),
        *("Acme\x00", "\x00"),  # a NUL no store can hold finds nothing, on either store
    ],
)
async def test_find_by_name_matches_the_whole_name_exactly(database: Database, asked: str) -> None:
    async with database.unit_of_work(write=True) as store:
        await add_org(store, "Acme")
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.find_by_name(asked) is None
        assert await store.orgs.find_by_name("Acme") is not None


async def test_each_org_is_found_by_its_own_name(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        added = [await add_org(store, name) for name in ("North", "South", "East")]
    async with database.unit_of_work(write=False) as store:
        found = [await store.orgs.find_by_name(name) for name in ("North", "South", "East")]
    assert found == added
    assert len({org.id for org in added}) == 3
    assert [org.id for org in added] == sorted(org.id for org in added)


async def test_a_taken_name_is_a_conflict(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        first = await add_org(store, "Unique")
    with pytest.raises(StoreConflict):
        async with database.unit_of_work(write=True) as store:
            await add_org(store, "Unique", timezone="Europe/Berlin")
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.find_by_name("Unique") == first


async def test_lock_leaves_the_org_as_it_was(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        added = await add_org(store, "Locked")
    async with database.unit_of_work(write=True) as store:
        await store.orgs.lock(added.id)
        assert await store.orgs.get(added.id) == added
        await store.orgs.lock(added.id)  # a second lock in the same transaction is harmless
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.get(added.id) == added


async def test_locking_an_unknown_org_is_harmless(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        await store.orgs.lock(987_654_321)
        added = await add_org(store, "After")
    async with database.unit_of_work(write=False) as store:
        assert await store.orgs.get(added.id) == added


async def _create_within_limit(database: Database, seeded: Seeded, name: str) -> bool:
    """What the client service does: lock the org, count, add only below the limit."""
    async with database.unit_of_work(write=True) as store:
        await store.orgs.lock(seeded.org.id)
        org = await store.orgs.get(seeded.org.id)
        assert org is not None
        if await store.clients.count_valid(org.id) >= org.max_clients:
            return False
        await add_client(store, seeded, name=name)
        return True


@pytest.mark.parametrize(("limit", "writers"), [(1, 4), (3, 8), (5, 12)])
async def test_concurrent_writers_of_a_locked_org_never_pass_its_limit(
    committed: Database, limit: int, writers: int
) -> None:
    seeded = await seed(committed, "Busy", max_clients=limit)
    outcomes = await asyncio.gather(
        *(_create_within_limit(committed, seeded, f"rush-{n}") for n in range(writers))
    )
    assert outcomes.count(True) == limit
    async with committed.unit_of_work(write=False) as store:
        assert await store.clients.count_valid(seeded.org.id) == limit
        listed = await store.clients.list(seeded.org.id, include_invalid=True)
    assert len(listed) == limit
