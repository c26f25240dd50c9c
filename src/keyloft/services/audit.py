"""Reading an org's audit trail: filters, newest first, cursor pagination; the RFC 3339
date-times its ``from`` and ``to`` are given as."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from keyloft.domain.audit import AuditEvent
from keyloft.domain.errors import NotFound, ValidationFailed
from keyloft.services.cursor import AUDIT_CURSOR, decode_cursor, encode_cursor
from keyloft.services.ports import AuditQuery, Store

MAX_PAGE = 100
_CURSOR_KIND = AUDIT_CURSOR

_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})([.][0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_MICROS = 1_000_000
_DAY = 86_400 * _MICROS
_FIRST = datetime.min.replace(tzinfo=UTC)
_FIRST_MICROS = date.min.toordinal() * _DAY
_LAST_MICROS = date.max.toordinal() * _DAY + _DAY - 1
_CYCLE_DAYS = 146_097
"""Days in 400 Gregorian years: year 0 is year 400 one cycle earlier."""


def _instant(text: str, field: str) -> int:
    """An RFC 3339 date-time (any of them: year 0000 to 9999, any offset up to 23:59, a leap
    second) as microseconds since 0001-01-01 UTC: exact, even beyond what ``datetime`` holds.
    A leap second is read as the last microsecond of the second before."""
    found = _DATE_TIME.fullmatch(text)
    refused = ValidationFailed(
        f"{field} must be an RFC 3339 date-time, such as 2020-04-15T14:14:06.104+05:30.",
        field=field,
    )
    if found is None:
        raise refused
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    fraction, sign, offset_hours, offset_minutes = found.groups()[6:]
    if hour > 23 or minute > 59 or second > 60:
        raise refused
    if sign is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        raise refused
    try:
        days = date(year or 400, month, day).toordinal() - (0 if year else _CYCLE_DAYS)
    except ValueError:
        raise refused from None
    micros = int((fraction or ".0")[1:7].ljust(6, "0"))
    if second == 60:
        second, micros = 59, _MICROS - 1
    moment = days * _DAY + ((hour * 60 + minute) * 60 + second) * _MICROS + micros
    if sign is not None:
        offset = (int(offset_hours) * 60 + int(offset_minutes)) * 60 * _MICROS
        moment += -offset if sign == "+" else offset
    return moment


def _moment(micros: int) -> datetime:
    return _FIRST + timedelta(microseconds=micros - _FIRST_MICROS)


def audit_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``to`` as given (RFC 3339 date-times), as the bounds of a search: ``from``
    must be earlier than ``to`` (``ValidationFailed`` names ``from``). A bound beyond what the
    store holds (before year 1 or after 9999, in UTC) is clamped, or dropped when it keeps
    nothing out."""
    start = _instant(since, "from") if since is not None else None
    end = _instant(until, "to") if until is not None else None
    if start is not None and end is not None and start >= end:
        raise ValidationFailed("from must be earlier than to.", field="from")
    lower = None if start is None or start <= _FIRST_MICROS else min(start, _LAST_MICROS)
    upper = None if end is None or end > _LAST_MICROS else max(end, _FIRST_MICROS)
    return (
        _moment(lower) if lower is not None else None,
        _moment(upper) if upper is not None else None,
    )


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
                before_id=decode_cursor(_CURSOR_KIND, cursor) if cursor is not None else None,
                limit=limit + 1,
            )
        )
        more = len(events) > limit
        events = events[:limit]
        following = encode_cursor(_CURSOR_KIND, events[-1].id) if more and events else None
        return AuditPage(events, following)
