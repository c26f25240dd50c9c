"""Principals: Admin users and Tills, their logins and password hashes, and their accounts'
lifecycle (disabled, deleted, re-passworded; the last login)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.accounts import Account
from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.services.ports import Changes
from keyloft.storage.repositories.rows import ACTOR_COLUMNS, to_principal, unstorable
from keyloft.storage.tables import PrincipalRow

# Writes of several rows at once (executemany) go through the table (Core), not the ORM.
_PRINCIPALS = cast(Table, PrincipalRow.__table__)


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

    async def accounts(self, org_id: int, kind: PrincipalKind) -> list[Account]:
        rows = await self._s.scalars(
            select(PrincipalRow)
            .where(
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.deleted_at.is_(None),
            )
            .order_by(PrincipalRow.id)
        )
        return [_account(row) for row in rows]

    async def account(self, org_id: int, code: str, kind: PrincipalKind) -> Account | None:
        if unstorable(code):
            return None
        row = await self._s.scalar(
            select(PrincipalRow).where(
                PrincipalRow.code == code,
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
            )
        )
        return _account(row) if row else None

    async def session_credentials(self, code: str) -> tuple[Principal, str, int] | None:
        if unstorable(code):
            return None
        found = await self._s.execute(
            select(*ACTOR_COLUMNS, PrincipalRow.password_hash, PrincipalRow.session_epoch).where(
                PrincipalRow.code == code, PrincipalRow.is_active
            )
        )
        row = found.first()
        return (to_principal(row), row.password_hash, row.session_epoch) if row else None

    async def _change(self, principal: Principal, **values: Any) -> None:
        table = _PRINCIPALS.c
        await self._s.execute(
            update(_PRINCIPALS)
            .where(table.id == principal.id)
            .values(session_epoch=table.session_epoch + 1, **values)
        )
        # Every node drops the org's logins (and the org's client states, whose default Till
        # may be this one).
        self._changes.orgs.add(principal.org_id)

    async def set_password(self, principal: Principal, password_hash: str) -> None:
        await self._change(principal, password_hash=password_hash)

    async def set_active(self, principal: Principal, active: bool) -> None:
        await self._change(principal, is_active=active)

    async def delete(self, principal: Principal, now: datetime) -> None:
        await self._change(principal, is_active=False, deleted_at=now)

    async def record_logins(self, logins: Mapping[int, datetime]) -> None:
        if not logins:
            return
        # One statement for the batch; a login only ever moves forward, so nodes writing in
        # any order agree. Not announced: no node caches it.
        table = _PRINCIPALS.c
        await self._s.execute(
            update(_PRINCIPALS)
            .where(
                table.id == bindparam("principal_id"),
                or_(table.last_login_at.is_(None), table.last_login_at < bindparam("at")),
            )
            .values(last_login_at=bindparam("at")),
            [{"principal_id": key, "at": at} for key, at in sorted(logins.items())],
        )


def _account(row: PrincipalRow) -> Account:
    return Account(
        to_principal(row),
        active=row.is_active,
        deleted=row.deleted_at is not None,
        last_login_on=row.last_login_at,
    )
