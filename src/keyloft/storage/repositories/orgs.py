"""Orgs: the tenants, their settings, and the per-org lock that serialises writers of an
org's clients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.orgs import Org
from keyloft.services.ports import Changes
from keyloft.storage.repositories.rows import unstorable
from keyloft.storage.tables import OrgRow


def _org(row: OrgRow) -> Org:
    return Org(
        row.id, row.name, row.timezone, row.max_clients, row.max_token_ttl, row.secret_lifetime
    )


class SqlOrgs:
    """Implements ``keyloft.services.ports.OrgRepository``."""

    def __init__(self, session: AsyncSession, changes: Changes | None = None) -> None:
        self._s = session
        self._changes = changes if changes is not None else Changes()

    async def get(self, org_id: int) -> Org | None:
        row = await self._s.get(OrgRow, org_id)
        return _org(row) if row else None

    async def lock(self, org_id: int) -> None:
        # A no-op UPDATE takes the org's row lock on PostgreSQL (and the database write lock on
        # SQLite, already held through BEGIN IMMEDIATE): writers of one org queue here.
        await self._s.execute(update(OrgRow).where(OrgRow.id == org_id).values(id=OrgRow.id))

    async def add(
        self, *, name: str, timezone: str, max_clients: int, max_token_ttl: int, now: datetime
    ) -> Org:
        row = OrgRow(
            name=name,
            timezone=timezone,
            max_clients=max_clients,
            max_token_ttl=max_token_ttl,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return _org(row)

    async def find_by_name(self, name: str) -> Org | None:
        if unstorable(name):
            return None
        row = await self._s.scalar(select(OrgRow).where(OrgRow.name == name))
        return _org(row) if row else None

    async def list(self) -> list[Org]:
        return [_org(row) for row in await self._s.scalars(select(OrgRow).order_by(OrgRow.id))]

    async def update(self, org: Org) -> None:
        await self._s.execute(
            update(OrgRow)
            .where(OrgRow.id == org.id)
            .values(
                name=org.name,
                timezone=org.timezone,
                max_clients=org.max_clients,
                max_token_ttl=org.max_token_ttl,
                secret_lifetime=org.secret_lifetime,
            )
            .execution_options(synchronize_session=False)
        )
        # Nodes hold the org with its clients (their dates are in its zone): drop them.
        self._changes.orgs.add(org.id)
