"""The audit trail: who changed what, when and from where; searched newest first."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.audit import AuditEvent, RequestContext
from keyloft.services.ports import AuditQuery
from keyloft.storage.repositories.rows import to_principal, unstorable
from keyloft.storage.tables import AuditRow, PrincipalRow


class SqlAudit:
    """Implements ``keyloft.services.ports.AuditRepository``."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, event: AuditEvent) -> None:
        self._s.add(
            AuditRow(
                org_id=event.org_id,
                at=event.at,
                actor_id=event.actor.id if event.actor is not None else None,
                operator=event.operator,
                action=event.action,
                target_type=event.target_type,
                target=event.target,
                changes=event.changes,
                request_id=event.context.request_id,
                source_ip=event.context.source_ip,
            )
        )
        await self._s.flush()

    async def find(self, query: AuditQuery) -> list[AuditEvent]:
        statement = (
            select(AuditRow, PrincipalRow)
            .outerjoin(PrincipalRow, PrincipalRow.id == AuditRow.actor_id)
            .order_by(AuditRow.id.desc())
            .limit(query.limit)
        )
        if not query.everywhere:
            statement = statement.where(
                AuditRow.org_id == query.org_id
                if query.org_id is not None
                else AuditRow.org_id.is_(None)
            )
        texts = (query.target, query.actor_code, query.action)
        if any(text is not None and unstorable(text) for text in texts):
            return []
        if query.target is not None:
            statement = statement.where(AuditRow.target == query.target)
        if query.actor_code is not None:
            statement = statement.where(
                or_(PrincipalRow.code == query.actor_code, AuditRow.operator == query.actor_code)
            )
        if query.action is not None:
            statement = statement.where(AuditRow.action == query.action)
        if query.since is not None:
            statement = statement.where(AuditRow.at >= query.since)
        if query.until is not None:
            statement = statement.where(AuditRow.at < query.until)
        if query.before_id is not None:
            statement = statement.where(AuditRow.id < query.before_id)
        rows = await self._s.execute(statement)
        return [
            AuditEvent(
                org_id=row.org_id,
                at=row.at,
                actor=to_principal(actor) if actor is not None else None,
                operator=row.operator if actor is None else None,
                action=row.action,
                target_type=row.target_type,
                target=row.target,
                changes=row.changes,
                context=RequestContext(row.request_id, row.source_ip),
                id=row.id,
            )
            for row, actor in rows
        ]
