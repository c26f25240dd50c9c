"""The SQL unit of work: one session, one transaction, all repositories."""

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

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.changes = Changes()
        self.orgs = SqlOrgs(session)
        self.principals = SqlPrincipals(session)
        self.scopes = SqlScopes(session, self.changes)
        self.clients = SqlClients(session, self.changes)
        self.keys = SqlSigningKeys(session)
        self.revocations = SqlRevocations(session, self.changes)
        self.audit = SqlAudit(session)


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

    async def dispose(self) -> None:
        await self.engine.dispose()
