"""Principals: Admin users and Tills, their logins and password hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.services.ports import Changes
from keyloft.storage.repositories.rows import ACTOR_COLUMNS, to_principal, unstorable
from keyloft.storage.tables import PrincipalRow


class SqlPrincipals:
    """Implements ``keyloft.services.ports.PrincipalRepository``."""

    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def credentials(self, code: str) -> tuple[Principal, str] | None:
        if unstorable(code):
            return None
        found = await self._s.execute(
            select(*ACTOR_COLUMNS, PrincipalRow.password_hash).where(
                PrincipalRow.code == code, PrincipalRow.is_active
            )
        )
        row = found.first()
        return (to_principal(row), row.password_hash) if row else None

    async def get(self, principal_id: int) -> Principal | None:
        row = await self._s.get(PrincipalRow, principal_id)
        return to_principal(row) if row else None

    async def get_in_org(
        self, org_id: int, principal_id: int, kind: PrincipalKind
    ) -> Principal | None:
        row = await self._s.scalar(
            select(PrincipalRow).where(
                PrincipalRow.id == principal_id,
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.is_active,
            )
        )
        return to_principal(row) if row else None

    async def find_in_org(self, org_id: int, code: str, kind: PrincipalKind) -> Principal | None:
        if unstorable(code):
            return None
        row = await self._s.scalar(
            select(PrincipalRow).where(
                PrincipalRow.code == code,
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.is_active,
            )
        )
        return to_principal(row) if row else None

    async def list_in_org(self, org_id: int, kind: PrincipalKind) -> list[Principal]:
        rows = await self._s.scalars(
            select(PrincipalRow)
            .where(
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.is_active,
            )
            .order_by(PrincipalRow.id)
        )
        return [to_principal(row) for row in rows]

    async def code_taken(self, code: str) -> bool:
        if unstorable(code):
            return False
        found = await self._s.scalar(select(PrincipalRow.id).where(PrincipalRow.code == code))
        return found is not None

    async def add(
        self,
        *,
        org_id: int,
        kind: PrincipalKind,
        code: str,
        name: str,
        password_hash: str,
        now: datetime,
    ) -> Principal:
        row = PrincipalRow(
            org_id=org_id,
            kind=kind.value,
            code=code,
            name=name,
            description="",
            password_hash=password_hash,
            is_active=True,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        # Nodes cache the principals of Basic logins per org: a change to an org's principals
        # drops them (nothing cached could be stale after an addition; a later change could).
        self._changes.orgs.add(org_id)
        return to_principal(row)
