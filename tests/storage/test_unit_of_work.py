"""The unit of work: commits when its block ends, rolls back when it raises, and turns a
constraint the change broke into ``StoreConflict``; the lazy one opens nothing unless used."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from keyloft.domain.errors import NotFound, StoreConflict, ValidationFailed
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from tests.support.api import Statements
from tests.support.seeds import add_org


async def _org_names(database: Database, *names: str) -> list[str]:
    async with database.unit_of_work(write=False) as store:
        found = [await store.orgs.find_by_name(name) for name in names]
    return [org.name for org in found if org is not None]


async def _write(
    database: Database, *names: str, then: Exception | None = None, lazy: bool = False
) -> None:
    """Add orgs of these names in one unit of work, then raise ``then`` if given."""
    unit_of_work = database.lazy_unit_of_work if lazy else database.unit_of_work
    async with unit_of_work(write=True) as store:
        for name in names:
            await add_org(store, name)
        if then is not None:
            raise then


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
async def test_a_block_that_ends_normally_commits(database: Database, lazy: bool) -> None:
    unit_of_work = database.lazy_unit_of_work if lazy else database.unit_of_work
    async with unit_of_work(write=True) as store:
        await add_org(store, "Kept")
    assert await _org_names(database, "Kept") == ["Kept"]


@pytest.mark.parametrize(
    "error",
    [ValueError("bad"), RuntimeError("broken"), NotFound(), ValidationFailed("no", field="x")],
    ids=["value-error", "runtime-error", "not-found", "validation-failed"],
)
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
async def test_a_block_that_raises_rolls_back_and_the_error_passes_unchanged(
    database: Database, error: Exception, lazy: bool
) -> None:
    with pytest.raises(type(error)) as raised:
        await _write(database, "Undone", then=error, lazy=lazy)
    assert raised.value is error
    assert await _org_names(database, "Undone") == []


async def test_a_broken_constraint_is_a_store_conflict_and_undoes_the_whole_block(
    database: Database,
) -> None:
    async with database.unit_of_work(write=True) as store:
        await add_org(store, "Taken")
    with pytest.raises(StoreConflict):
        await _write(database, "Made first", "Taken")
    assert await _org_names(database, "Taken", "Made first") == ["Taken"]
    async with database.unit_of_work(write=True) as store:  # the store goes on working
        await add_org(store, "Made later")
    assert await _org_names(database, "Made later") == ["Made later"]


async def test_an_unused_lazy_unit_of_work_asks_the_database_nothing(database: Database) -> None:
    seen = Statements()
    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with database.lazy_unit_of_work(write=True) as store:
            pass
        assert seen.seen == []
        assert not store.changes
        async with database.lazy_unit_of_work(write=False) as store:
            await store.orgs.get(1)
        assert seen.queries(), "a used lazy unit of work must reach the database"
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)


async def test_units_of_work_in_turn_see_each_others_commits(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        first = await add_org(store, "First")
    async with database.unit_of_work(write=True) as store:
        assert await store.orgs.get(first.id) == first
        second = await add_org(store, "Second")
    async with database.lazy_unit_of_work(write=False) as store:
        assert await store.orgs.get(second.id) == second
    assert second.id > first.id


async def test_a_committed_write_is_seen_by_another_connection(committed: Database) -> None:
    async with committed.unit_of_work(write=True) as store:
        org = await add_org(store, "Visible")
    url = committed.engine.url.render_as_string(hide_password=False)
    other = Database(create_engine(url))  # an engine, and so a connection, of its own
    try:
        async with other.unit_of_work(write=False) as store:
            assert await store.orgs.get(org.id) == org
    finally:
        await other.dispose()


async def test_an_uncommitted_write_is_not_seen_by_another_connection(
    committed: Database,
) -> None:
    async with committed.unit_of_work(write=False) as reader:
        assert await reader.orgs.find_by_name("Pending") is None
    async with committed.unit_of_work(write=True) as writer:
        await add_org(writer, "Pending")
        # On SQLite a reader of the WAL sees the last commit; on PostgreSQL, READ COMMITTED.
        async with committed.unit_of_work(write=False) as reader:
            assert await reader.orgs.find_by_name("Pending") is None
    async with committed.unit_of_work(write=False) as reader:
        assert await reader.orgs.find_by_name("Pending") is not None
