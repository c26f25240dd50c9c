"""Reading an org's audit trail: filters, newest first, cursor pagination."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from keyloft.domain.audit import AuditEvent
from keyloft.domain.errors import ValidationFailed
from keyloft.services.ports import AuditQuery, Store

MAX_PAGE = 100
_CURSOR_PREFIX = "a1:"


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed("cursor is not one this service issued.", field="cursor") from None
    number = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise ValidationFailed("cursor is not one this service issued.", field="cursor")
    return int(number)


class AuditService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def find(
        self,
        org_id: int,
        *,
        client_key: str | None = None,
        actor_code: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """Events of ``org_id`` only, whatever the filters say."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
        if since is not None and until is not None and since >= until:
            raise ValidationFailed("from must be earlier than to.", field="from")
        events = await self._store.audit.find(
            AuditQuery(
                org_id=org_id,
                target=client_key,
                actor_code=actor_code,
                action=action,
                since=since,
                until=until,
                before_id=decode_cursor(cursor) if cursor else None,
                limit=limit + 1,
            )
        )
        more = len(events) > limit
        events = events[:limit]
        return AuditPage(events, encode_cursor(events[-1].id) if more and events else None)
