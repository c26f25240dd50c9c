"""The stores tests run on, each migrated once per run rather than once per test.

SQLite: one migrated file per run (``build_sqlite``), copied for each test; a copy is a real
database of its own, so other connections and processes see its commits. PostgreSQL: a
database of the run's own on the test server (KEYLOFT_TEST_POSTGRES_URL, default the local
one), created and migrated once (``create_postgres_database``) and dropped at the end. A test
either works inside a transaction that is rolled back when it ends, or, when other connections
must see its commits, on a database emptied before it starts (``empty_postgres``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from keyloft.domain import crypto
from keyloft.domain.signing import SigningKey
from keyloft.services.keys import ServerKeys
from keyloft.services.ports import StoredKey
from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from tests.support.api import SERVER_SECRET
from tests.support.ci import unavailable

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
STORES = ("sqlite", "postgresql")


def postgres_server() -> str:
    return os.environ.get("KEYLOFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


async def postgres_admin(url: str, statement: str) -> None:
    """Run one statement (CREATE or DROP DATABASE) outside any transaction."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        timeout=5,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _migrate(url: str) -> None:
    database = Database(create_engine(url, command_timeout=None))
    try:
        await migrate.upgrade(database.engine)
    finally:
        await database.dispose()


def create_postgres_database(prefix: str = "keyloft_test") -> str:
    """A new database on the test server, migrated to head; its URL. Without a reachable
    server the calling test is skipped with the reason (fails under CI)."""
    server = postgres_server()
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        asyncio.run(postgres_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable(f"PostgreSQL not reachable at {make_url(server).render_as_string()}: {exc}")
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    return url


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(postgres_admin(postgres_server(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def empty_postgres(database: Database) -> None:
    """Remove every row (the schema and its revision stay) and restart the ids."""
    async with database.engine.begin() as connection:
        tables = (
            await connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        listed = ", ".join(f'"{table}"' for table in tables)
        await connection.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))


async def add_signing_key(database: Database, signing_key: SigningKey) -> None:
    """Store ``signing_key`` sealed under the tests' server secret, as ``keyloft init`` would."""
    keys = ServerKeys.derive(SERVER_SECRET)
    sealed = crypto.encrypt(
        keys.signing_key_encryption, signing_key.private_pem(), signing_key.kid.encode()
    )
    async with database.unit_of_work(write=True) as store:
        await store.keys.add(
            StoredKey(signing_key.kid, signing_key.algorithm, sealed, signing_key.created_at),
            signing_key.public_jwk(),
        )


def build_sqlite(path: Path, signing_key: SigningKey | None = None) -> Path:
    """A migrated SQLite file at ``path`` (with ``signing_key`` stored, if given), closed so
    that the file alone holds everything and can be copied."""

    async def build() -> None:
        database = Database(create_engine(f"sqlite:///{path}"))
        try:
            await migrate.upgrade(database.engine)
            if signing_key is not None:
                await add_signing_key(database, signing_key)
        finally:
            await database.dispose()

    asyncio.run(build())
    leftovers = [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    assert not leftovers, f"the template was not checkpointed: {leftovers}"
    return path


def copy_sqlite(template: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
