"""The SQL unit of work: one session, one transaction, all repositories.

``Database.unit_of_work`` opens its session at once; ``Database.lazy_unit_of_work`` hands out
a ``LazyStore`` whose session and transaction begin on the first repository it is asked for,
so a request that the node's caches answer touches neither the pool nor the database. Both
raise ``StoreUnavailable`` or ``StoreConflict`` (``keyloft.domain.errors``) for what the
drivers raise, whether in the block or at the commit, so no caller sees a driver exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from keyloft.domain.errors import StoreUnavailable
from keyloft.services.ports import (
    AuditRepository,
    Changes,
    ClientRepository,
    OrgRepository,
    PrincipalRepository,
    RegistrationRepository,
    RevocationRepository,
    ScopeRepository,
    SigningKeyRepository,
    UsageRepository,
    UsedAssertionRepository,
    WebhookRepository,
)
from keyloft.storage.engine import WRITE_OPTION
from keyloft.storage.failures import PROBE_FAILURES, translated
from keyloft.storage.repositories import (
    SqlAudit,
    SqlClients,
    SqlOrgs,
    SqlPrincipals,
    SqlRegistrations,
    SqlRevocations,
    SqlScopes,
    SqlSigningKeys,
    SqlUsage,
    SqlUsedAssertions,
)
from keyloft.storage.repositories.webhooks import SqlWebhooks

_PING = text("SELECT 1")


class SqlStore:
    """Implements ``keyloft.services.ports.Store`` over one ``AsyncSession``."""

    def __init__(self, session: AsyncSession, changes: Changes | None = None) -> None:
        self.session = session
        self.changes = changes if changes is not None else Changes()
        self.orgs: OrgRepository = SqlOrgs(session, self.changes)
        self.principals: PrincipalRepository = SqlPrincipals(session, self.changes)
        self.scopes: ScopeRepository = SqlScopes(session, self.changes)
        self.clients: ClientRepository = SqlClients(session, self.changes)
        self.keys: SigningKeyRepository = SqlSigningKeys(session)
        self.revocations: RevocationRepository = SqlRevocations(session, self.changes)
        self.audit: AuditRepository = SqlAudit(session)
        self.used_assertions: UsedAssertionRepository = SqlUsedAssertions(session)
        self.registrations: RegistrationRepository = SqlRegistrations(session)
        self.webhooks: WebhookRepository = SqlWebhooks(session)
        self.usage: UsageRepository = SqlUsage(session)


class LazyStore:
    """Implements ``keyloft.services.ports.Store``; the session and its transaction start on
    first use of a repository (the engine begins the transaction on the first statement)."""

    __slots__ = ("_maker", "_store", "changes")

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.changes = Changes()
        self._maker = maker
        self._store: SqlStore | None = None

    def _open(self) -> SqlStore:
        if self._store is None:
            self._store = SqlStore(self._maker(), self.changes)
        return self._store

    @property
    def orgs(self) -> OrgRepository:
        return self._open().orgs

    @property
    def principals(self) -> PrincipalRepository:
        return self._open().principals

    @property
    def scopes(self) -> ScopeRepository:
        return self._open().scopes

    @property
    def clients(self) -> ClientRepository:
        return self._open().clients

    @property
    def keys(self) -> SigningKeyRepository:
        return self._open().keys

    @property
    def revocations(self) -> RevocationRepository:
        return self._open().revocations

    @property
    def audit(self) -> AuditRepository:
        return self._open().audit

    @property
    def used_assertions(self) -> UsedAssertionRepository:
        return self._open().used_assertions

    @property
    def registrations(self) -> RegistrationRepository:
        return self._open().registrations

    @property
    def webhooks(self) -> WebhookRepository:
        return self._open().webhooks

    @property
    def usage(self) -> UsageRepository:
        return self._open().usage

    async def finish(self, *, commit: bool) -> None:
        """Commit (or roll back) and close the session, if one was opened."""
        if self._store is None:
            return
        session = self._store.session
        with translated:
            try:
                if commit:
                    await session.commit()
                else:
                    await session.rollback()
            finally:
                await session.close()


class Database:
    """Owns the engine and hands out units of work.

    ``Database.on_connection`` builds one bound to a single connection instead, for work
    that must be undone as a whole (a test's, rolled back when it ends).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._read = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
        )

    @classmethod
    def on_connection(cls, connection: AsyncConnection) -> Database:
        """A Database whose units of work all run on ``connection``, inside the transaction
        its owner began there: each unit of work is a SAVEPOINT, so its commit releases the
        savepoint and its rollback returns to it, and the owner's rollback of the outer
        transaction undoes everything done through this Database.

        The owner keeps the connection: begins the outer transaction before the first unit of
        work (else the first one commits for real), ends it, and closes the connection;
        ``dispose`` leaves both alone. One connection runs one statement at a time, so units
        of work must not run concurrently, and a nested one must end before the one around
        it. Readers and writers share the owner's transaction: SQLite's ``BEGIN IMMEDIATE``
        for writers does not apply.
        """
        database = cls(connection.engine)
        database._connection = connection
        database._read = database._write = async_sessionmaker(
            connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        return database

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool) -> AsyncIterator[SqlStore]:
        """Commit when the block ends normally, roll back when it raises."""
        maker = self._write if write else self._read
        with translated:
            async with maker() as session, session.begin():
                yield SqlStore(session)

    @asynccontextmanager
    async def lazy_unit_of_work(self, *, write: bool) -> AsyncIterator[LazyStore]:
        """As ``unit_of_work``, but nothing is opened unless a repository is used."""
        store = LazyStore(self._write if write else self._read)
        with translated:
            try:
                yield store
            except BaseException:
                await store.finish(commit=False)
                raise
        await store.finish(commit=True)

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers a trivial query."""
        try:
            if self._connection is not None:
                await self._connection.execute(_PING)
                return
            async with self.engine.connect() as connection:
                await connection.execute(_PING)
        except PROBE_FAILURES as exc:
            raise StoreUnavailable() from exc

    async def dispose(self) -> None:
        """Close the engine's pooled connections (not those of ``on_connection``'s owner)."""
        if self._connection is None:
            await self.engine.dispose()
