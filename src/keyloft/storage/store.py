"""The SQL unit of work: one session, one transaction, all repositories.

``Database.unit_of_work`` opens its session at once; ``Database.lazy_unit_of_work`` hands out
a ``LazyStore`` whose session and transaction begin on the first repository it is asked for,
so a request that the node's caches answer touches neither the pool nor the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from keyloft.services.ports import Changes
from keyloft.storage.engine import WRITE_OPTION
from keyloft.storage.repositories import (
    SqlAudit,
    SqlClients,
    SqlOrgs,
    SqlPrincipals,
    SqlRevocations,
    SqlScopes,
    SqlSigningKeys,
)


class SqlStore:
    """Implements ``keyloft.services.ports.Store`` over one ``AsyncSession``."""

    def __init__(self, session: AsyncSession, changes: Changes | None = None) -> None:
        self.session = session
        self.changes = changes if changes is not None else Changes()
        self.orgs = SqlOrgs(session)
        self.principals = SqlPrincipals(session, self.changes)
        self.scopes = SqlScopes(session, self.changes)
        self.clients = SqlClients(session, self.changes)
        self.keys = SqlSigningKeys(session)
        self.revocations = SqlRevocations(session, self.changes)
        self.audit = SqlAudit(session)


class LazyStore:
    """Implements ``keyloft.services.ports.Store``; the session and its transaction start on
    first use of a repository (the engine begins the transaction on the first statement)."""

    __slots__ = ("_maker", "_store", "changes")

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.changes = Changes()
        self._maker = maker
        self._store: SqlStore | None = None

    @property
    def opened(self) -> bool:
        return self._store is not None

    def _open(self) -> SqlStore:
        if self._store is None:
            self._store = SqlStore(self._maker(), self.changes)
        return self._store

    @property
    def session(self) -> AsyncSession:
        return self._open().session

    @property
    def orgs(self) -> SqlOrgs:
        return self._open().orgs

    @property
    def principals(self) -> SqlPrincipals:
        return self._open().principals

    @property
    def scopes(self) -> SqlScopes:
        return self._open().scopes

    @property
    def clients(self) -> SqlClients:
        return self._open().clients

    @property
    def keys(self) -> SqlSigningKeys:
        return self._open().keys

    @property
    def revocations(self) -> SqlRevocations:
        return self._open().revocations

    @property
    def audit(self) -> SqlAudit:
        return self._open().audit

    async def finish(self, *, commit: bool) -> None:
        """Commit (or roll back) and close the session, if one was opened."""
        if self._store is None:
            return
        session = self._store.session
        try:
            if commit:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._read = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
        )

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool) -> AsyncIterator[SqlStore]:
        """Commit when the block ends normally, roll back when it raises."""
        maker = self._write if write else self._read
        async with maker() as session, session.begin():
            yield SqlStore(session)

    @asynccontextmanager
    async def lazy_unit_of_work(self, *, write: bool) -> AsyncIterator[LazyStore]:
        """As ``unit_of_work``, but nothing is opened unless a repository is used."""
        store = LazyStore(self._write if write else self._read)
        try:
            yield store
        except BaseException:
            await store.finish(commit=False)
            raise
        await store.finish(commit=True)

    async def dispose(self) -> None:
        await self.engine.dispose()
