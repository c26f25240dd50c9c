"""The unit of work's boundary: driver failures leave it as Keyloft's own store failures, and
a Database bound to one connection does its work in savepoints of the owner's transaction,
so the owner's rollback undoes all of it. Each test touching a live store runs on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from keyloft.domain.errors import NotFound, StoreConflict, StoreUnavailable
from keyloft.services.ports import Store
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database


async def _add_org(store: Store, name: str) -> None:
    await store.orgs.add(
        name=name, timezone="UTC", max_clients=10, max_token_ttl=3600, now=datetime.now(UTC)
    )


async def _add_then_raise(
    database: Database, name: str, error: Exception, *, lazy: bool = False
) -> None:
    unit_of_work = database.lazy_unit_of_work if lazy else database.unit_of_work
    async with unit_of_work(write=True) as store:
        await _add_org(store, name)
        raise error


async def _has_org(database: Database, name: str) -> bool:
    async with database.unit_of_work(write=False) as store:
        return await store.orgs.find_by_name(name) is not None


async def test_work_on_a_bound_connection_is_undone_with_the_outer_transaction(
    database: Database,
) -> None:
    async with database.engine.connect() as connection:
        outer = await connection.begin()
        bound = Database.on_connection(connection)
        async with bound.unit_of_work(write=True) as store:
            await _add_org(store, "Committed")
        async with bound.lazy_unit_of_work(write=True) as lazy:
            await _add_org(lazy, "Committed lazily")
        with pytest.raises(NotFound):
            await _add_then_raise(bound, "Rolled back", NotFound())
        with pytest.raises(StoreConflict):
            async with bound.unit_of_work(write=True) as store:
                await _add_org(store, "Committed")  # the name is taken
        # A committed unit of work is seen by later ones; a failed one is undone alone, and
        # the outer transaction goes on.
        assert await _has_org(bound, "Committed")
        assert await _has_org(bound, "Committed lazily")
        assert not await _has_org(bound, "Rolled back")
        await bound.ping()
        await bound.dispose()  # the owner's connection is left alone
        assert connection.in_transaction()
        await outer.rollback()
    for name in ("Committed", "Committed lazily"):
        assert not await _has_org(database, name)


async def test_a_constraint_violation_is_a_store_conflict(database: Database) -> None:
    async with database.unit_of_work(write=True) as store:
        await _add_org(store, "Acme")
    with pytest.raises(StoreConflict) as raised:
        async with database.unit_of_work(write=True) as store:
            await _add_org(store, "Acme")
    assert raised.value.code == 4090
    assert await _has_org(database, "Acme")


async def test_errors_that_are_no_store_failure_pass_unchanged(database: Database) -> None:
    with pytest.raises(NotFound):
        await _add_then_raise(database, "Gone", NotFound(), lazy=True)
    with pytest.raises(LookupError):
        await _add_then_raise(database, "Gone", LookupError())
    assert not await _has_org(database, "Gone")


async def test_a_live_store_answers_the_ping(database: Database) -> None:
    await database.ping()


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[Database]:
    """A database that cannot be opened: its directory does not exist."""
    before = set(threading.enumerate())
    dead = Database(create_engine(f"sqlite:///{tmp_path}/missing/dir/keyloft.db"))
    yield dead
    await dead.dispose()
    # aiosqlite stops the worker thread of a failed connect without waiting for it; let it
    # finish while this loop still runs, or it reports to a closed one.
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)


async def test_an_unreachable_store_is_store_unavailable(unreachable: Database) -> None:
    with pytest.raises(StoreUnavailable) as raised:
        async with unreachable.unit_of_work(write=False) as store:
            await store.orgs.get(1)
    assert raised.value.retry_after == 1
    assert isinstance(raised.value.__cause__, OperationalError)
    with pytest.raises(StoreUnavailable):
        async with unreachable.lazy_unit_of_work(write=True) as lazy:
            await lazy.orgs.get(1)
    with pytest.raises(StoreUnavailable):
        await unreachable.ping()


async def test_a_lazy_unit_of_work_left_unused_opens_nothing(unreachable: Database) -> None:
    async with unreachable.lazy_unit_of_work(write=True) as lazy:
        assert not lazy.changes
