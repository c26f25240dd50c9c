"""The storage contract suite runs every test on SQLite and on PostgreSQL.

``database``: on SQLite a copy of a file the run migrated once; on PostgreSQL a Database bound
(``Database.on_connection``) to one connection of a database the run migrated once, inside a
transaction rolled back when the test ends, so its units of work are savepoints. Tests of
concurrent units of work, which need commits other connections see, take ``committed``
instead: on SQLite the same kind of copy, on PostgreSQL the run's committed database, emptied
first. Without a reachable PostgreSQL those halves are skipped with the reason, except under
CI (CI=true), where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from tests.support.stores import (
    STORES,
    build_sqlite,
    copy_sqlite,
    create_postgres_database,
    drop_postgres_database,
    empty_postgres,
)


@pytest.fixture(scope="session")
def empty_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head and holding no rows."""
    return build_sqlite(tmp_path_factory.mktemp("contract") / "empty.db")


@pytest.fixture(scope="session")
def postgres_rollback_url() -> Iterator[str]:
    """The run's PostgreSQL database for tests whose work is rolled back: nothing is ever
    committed to it, so each test finds it empty."""
    url = create_postgres_database("keyloft_contract")
    yield url
    drop_postgres_database(url)


def _url(store: str, request: pytest.FixtureRequest, tmp_path: Path, postgres: str) -> str:
    if store == "postgresql":
        url: str = request.getfixturevalue(postgres)
        return url
    path = tmp_path / "store.db"
    copy_sqlite(request.getfixturevalue("empty_sqlite"), path)
    return f"sqlite:///{path}"


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request.param, request, tmp_path, "postgres_rollback_url")


@pytest.fixture(params=STORES)
def committed_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request.param, request, tmp_path, "postgres_url")


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    engine = create_engine(store_url)
    if _is_sqlite(store_url):
        database = Database(engine)
        yield database
        await database.dispose()
        return
    try:
        async with engine.connect() as connection:
            outer = await connection.begin()
            yield Database.on_connection(connection)
            await outer.rollback()
    finally:
        await engine.dispose()


@pytest.fixture
async def committed(committed_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(committed_url))
    if not _is_sqlite(committed_url):
        await empty_postgres(database)
    yield database
    await database.dispose()
