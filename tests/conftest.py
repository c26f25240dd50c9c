"""Shared fixtures: a migrated store per test, the app over ASGI, orgs with admins and Tills.

Tests run on SQLite: each gets a copy of one file the run migrated once and gave its signing
key, a database of its own whose commits other connections and processes see. The storage
contract suite (tests/storage) runs on SQLite and on PostgreSQL, and so do tests/integration
and the few tests that parametrize ``database_url`` indirectly with "postgresql": those get a
database of the run's own on the server named by KEYLOFT_TEST_POSTGRES_URL (default the local
one), migrated once and emptied before each test. Without a reachable PostgreSQL they are
skipped with the reason, except under CI (CI=true), where they fail instead, so they can never
be skipped silently there.

Passwords are hashed with argon2's cheapest parameters for the whole run
(``keyloft.domain.passwords.FOR_TESTS``); tests/unit/test_password_parameters.py checks that a
process of its own never does. Helpers shared by tests live in ``tests.support``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from keyloft.config import Settings
from keyloft.domain import passwords
from keyloft.domain.signing import SigningKey, generate_signing_key
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.clock import SystemClock
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import (
    BASE_URL,
    ISSUER,
    SERVER_SECRET,
    OrgFixture,
    Statements,
    make_org,
)
from tests.support.stores import (
    add_signing_key,
    build_sqlite,
    copy_sqlite,
    create_postgres_database,
    drop_postgres_database,
    empty_postgres,
)
from tests.unit.fakes import FakeClock


def pytest_configure(config: pytest.Config) -> None:
    passwords.use_parameters(passwords.FOR_TESTS)


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """One RSA key for the whole run: generating 2048-bit keys per test is slow."""
    return generate_signing_key(datetime.now(UTC))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    """A SQLite file migrated to head holding the run's signing key, copied for each test."""
    return build_sqlite(tmp_path_factory.mktemp("template") / "keyloft.db", signing_key)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own on the test PostgreSQL server, migrated once, dropped at
    the end; tests on it commit for real (``database`` empties it first)."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, unless the test parametrizes this fixture indirectly with "postgresql"."""
    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path}/keyloft.db"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        _env_file=None,
    )


@pytest.fixture
async def database(
    settings: Settings, signing_key: SigningKey, sqlite_template: Path
) -> AsyncIterator[Database]:
    """The store at ``settings.database_url``, migrated, empty but for the signing key."""
    if settings.is_sqlite:
        path = settings.sqlite_path
        assert path is not None, settings.database_url
        copy_sqlite(sqlite_template, path)
        database = Database(create_engine(settings.database_url))
    else:
        database = Database(create_engine(settings.database_url))
        await empty_postgres(database)
        await add_signing_key(database, signing_key)
    yield database
    await database.dispose()


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> AsyncIterator[Runtime]:
    rt = await build_runtime(settings, database=database)
    yield rt
    await rt.stop()


@pytest.fixture
def clock(runtime: Runtime) -> FakeClock:
    """The runtime's wall clock, starting now, moved only by the test."""
    runtime.clock = FakeClock(SystemClock().now())
    return runtime.clock


@pytest.fixture
def app(runtime: Runtime) -> Any:
    return create_app(runtime=runtime)


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For CLI tests: an empty working directory, an environment without any KEYLOFT_
    setting, and the embedded database in that directory."""
    for name in list(os.environ):
        if name.startswith("KEYLOFT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEYLOFT_DATABASE_URL", "sqlite:///./keyloft.db")
    return tmp_path


@pytest.fixture
async def org(database: Database) -> OrgFixture:
    return await make_org(database, "Acme")


@pytest.fixture
async def other_org(database: Database) -> OrgFixture:
    return await make_org(database, "Globex", timezone="Europe/Berlin")


@pytest.fixture
def statements(database: Database) -> Iterator[Statements]:
    recorder = Statements()
    event.listen(database.engine.sync_engine, "before_cursor_execute", recorder)
    yield recorder
    event.remove(database.engine.sync_engine, "before_cursor_execute", recorder)
