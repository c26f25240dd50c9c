"""Scope entities: the per-org areas a client's grants name, numbered within the org."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.scopes import ScopeEntity
from keyloft.services.ports import Changes
from keyloft.storage.tables import ScopeEntityRow


class SqlScopes:
    """Implements ``keyloft.services.ports.ScopeRepository``."""

    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def list(self, org_id: int) -> list[ScopeEntity]:
        rows = await self._s.scalars(
            select(ScopeEntityRow)
            .where(ScopeEntityRow.org_id == org_id)
            .order_by(ScopeEntityRow.id)
        )
        return [ScopeEntity(row.id, row.name, row.area_pattern) for row in rows]

    async def add(self, org_id: int, name: str, area_pattern: str | None) -> ScopeEntity:
        highest = await self._s.scalar(
            select(func.max(ScopeEntityRow.id)).where(ScopeEntityRow.org_id == org_id)
        )
        row = ScopeEntityRow(
            org_id=org_id, id=(highest or 0) + 1, name=name, area_pattern=area_pattern
        )
        self._s.add(row)
        await self._s.flush()
        self._changes.orgs.add(org_id)
        return ScopeEntity(row.id, row.name, row.area_pattern)
