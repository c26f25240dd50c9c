"""Reading an org's audit trail: filters, newest first, cursor pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from keyloft.domain.audit import AuditEvent
from keyloft.domain.errors import NotFound, ValidationFailed
from keyloft.services.cursor import decode_cursor, encode_cursor
from keyloft.services.ports import AuditQuery, Store

MAX_PAGE = 100
_CURSOR_KIND = "a1"


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


class AuditService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def timezone(self, org_id: int | None) -> str:
        """The zone an operator reads ``org_id``'s events in (UTC for none); ``NotFound`` for
        an unknown org."""
        if org_id is None:
            return "UTC"
        org = await self._store.orgs.get(org_id)
        if org is None:
            raise NotFound(f"No org with id {org_id}.")
        return org.timezone

    async def find(
        self,
        org_id: int | None,
        *,
        everywhere: bool = False,
        client_key: str | None = None,
        actor_code: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """Events of ``org_id`` only, whatever the filters say; ``None``: the deployment-wide
        events; ``everywhere`` (operators only): every org's and those."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
        if since is not None and until is not None and since >= until:
            raise ValidationFailed("from must be earlier than to.", field="from")
        events = await self._store.audit.find(
            AuditQuery(
                org_id=org_id,
                everywhere=everywhere,
                target=client_key,
                actor_code=actor_code,
                action=action,
                since=since,
                until=until,
                before_id=decode_cursor(_CURSOR_KIND, cursor) if cursor else None,
                limit=limit + 1,
            )
        )
        more = len(events) > limit
        events = events[:limit]
        following = encode_cursor(_CURSOR_KIND, events[-1].id) if more and events else None
        return AuditPage(events, following)
