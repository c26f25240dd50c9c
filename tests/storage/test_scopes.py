"""The scope repository: each org numbers its entities from 1, lists them in id order, and
keeps each area pattern exactly as given (None marks the fallback entity)."""

from __future__ import annotations

import pytest

from keyloft.domain.scopes import ScopeEntity
from keyloft.storage.store import Database
from tests.support.seeds import add_org

PATTERNS = [
    None,
    r".*v3/targetGroups.*",
    r"^/v1\.1/transaction(/[0-9]+)?$",
    r"/v2/(customers|coupons)/[^/]+",
    "/ünïcödé/.*",
    r"100%_[a-z]+\\d",
    "/" + "p" * 511,
]


async def test_each_org_numbers_its_entities_from_one(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        acme = await add_org(store, "Acme")
        globex = await add_org(store, "Globex")
        a1 = await store.scopes.add(acme.id, "TargetGroups", ".*v3/targetGroups.*")
        g1 = await store.scopes.add(globex.id, "All", None)
        a2 = await store.scopes.add(acme.id, "All", None)
        a3 = await store.scopes.add(acme.id, "Transaction", ".*transaction.*")
        g2 = await store.scopes.add(globex.id, "Coupons", ".*coupons.*")
    assert [a1.id, a2.id, a3.id] == [1, 2, 3]
    assert [g1.id, g2.id] == [1, 2]
    async with database.unit_of_work(write=False) as store:
        assert await store.scopes.list(acme.id) == [a1, a2, a3]
        assert await store.scopes.list(globex.id) == [g1, g2]


async def test_numbering_continues_in_a_later_unit_of_work(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        await store.scopes.add(org.id, "One", "/one")
    async with database.unit_of_work(write=True) as store:
        second = await store.scopes.add(org.id, "Two", "/two")
    assert second == ScopeEntity(2, "Two", "/two")


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: "none" if p is None else None)
async def test_an_area_pattern_reads_back_exactly(database: Database, pattern: str | None) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
        added = await store.scopes.add(org.id, "Entity", pattern)
    async with database.unit_of_work(write=False) as store:
        (found,) = await store.scopes.list(org.id)
    assert found == added == ScopeEntity(1, "Entity", pattern)


async def test_an_org_without_entities_lists_none(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
    async with database.unit_of_work(write=False) as store:
        assert await store.scopes.list(org.id) == []
        assert await store.scopes.list(987_654_321) == []


async def test_adding_an_entity_announces_its_org(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        org = await add_org(store)
    async with database.unit_of_work(write=True) as store:
        await store.scopes.add(org.id, "Coupons", ".*coupons.*")
    assert store.changes.orgs == {org.id}
