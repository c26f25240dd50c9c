"""Orgs: the tenants, and the per-org lock that serialises writers of an org's clients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.orgs import Org
from keyloft.storage.repositories.rows import unstorable
from keyloft.storage.tables import OrgRow


def _org(row: OrgRow) -> Org:
    return Org(row.id, row.name, row.timezone, row.max_clients, row.max_token_ttl)


class SqlOrgs:
    """Implements ``keyloft.services.ports.OrgRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

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
