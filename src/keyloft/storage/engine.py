"""Engines for the configured database: async drivers, pooling, SQLite pragmas and locking.

SQLite gets WAL, a busy timeout and explicit ``BEGIN``: read transactions start deferred and
write transactions ``BEGIN IMMEDIATE``, so two writers queue for the lock instead of failing
when one upgrades a read lock. PostgreSQL uses asyncpg with a bounded pool and connect and
command timeouts, so a database that stops answering fails requests instead of hanging them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

WRITE_OPTION = "keyloft_write"
_SQLITE_BUSY_MS = 30_000
# Without these asyncpg waits forever on a connection whose peer went silent (a partition
# drops packets rather than resetting): requests would hang instead of answering 503.
PG_CONNECT_TIMEOUT_SECONDS = 3.0
PG_COMMAND_TIMEOUT_SECONDS = 5.0


def async_url(database_url: str) -> URL:
    url = make_url(database_url)
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url.set(drivername="sqlite+aiosqlite")
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        return url.set(drivername="postgresql+asyncpg")
    return url


def create_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    command_timeout: float | None = PG_COMMAND_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """An engine for ``database_url``; on PostgreSQL every statement fails after
    ``command_timeout`` seconds, so pass None for long maintenance work.

    No pre-ping (a round trip on every checkout): a connection the server dropped fails its
    first statement with a disconnect error, SQLAlchemy then invalidates it and the pool's
    other idle connections, and the next request connects afresh."""
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args={"timeout": PG_CONNECT_TIMEOUT_SECONDS, "command_timeout": command_timeout},
    )


class PoolUsage(NamedTuple):
    size: int
    checked_out: int
    overflow: int


def pool_usage(engine: AsyncEngine) -> PoolUsage | None:
    """The connections of a pool that keeps some (None for one that opens one per use)."""
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):
        return None
    # overflow() counts from -size up while the pool fills; only connections beyond it count.
    return PoolUsage(pool.size(), pool.checkedout(), max(0, pool.overflow()))


def _sqlite_engine(url: URL) -> AsyncEngine:
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": _SQLITE_BUSY_MS / 1000},
        "hide_parameters": True,
    }
    if url.database in (None, "", ":memory:"):
        kwargs["poolclass"] = NullPool
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; "begin" below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
