"""The audit trail of the caller's org: every change to its clients, admins, Tills and scope
entities, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import WithJsonSchema
from starlette.responses import Response

from keyloft.domain.audit import AuditEvent
from keyloft.domain.timefmt import format_v3
from keyloft.services.audit import MAX_PAGE, audit_window
from keyloft.services.client_admin import AuditFilter
from keyloft.services.cursor import AUDIT_CURSOR, cursor_max_length, cursor_pattern
from keyloft.web import envelope
from keyloft.web.caller import ActorDep
from keyloft.web.openapi import answers, query_rules
from keyloft.web.openapi.rules import matching
from keyloft.web.schemas import AuditEnvelope
from keyloft.web.views import actor_view, operator_view
from keyloft.web.wiring import ServicesDep

router = APIRouter(prefix="/v3/integrations", tags=["audit"])


def _event(event: AuditEvent, timezone: str) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": format_v3(event.at, timezone),
        "actor": actor_view(event.actor) if event.actor else operator_view(event.operator or ""),
        "action": event.action,
        "target": {"type": event.target_type, "key": event.target},
        "changes": event.changes,
        "requestId": event.context.request_id,
        "sourceIp": event.context.source_ip,
    }


def _text(max_length: int, **schema: Any) -> WithJsonSchema:
    """A query string's schema: a string (never null) of at most ``max_length``."""
    return WithJsonSchema({"type": "string", "maxLength": max_length, **schema})


_MOMENT = (
    "an RFC 3339 date-time, such as 2020-04-15T14:14:06.104+05:30 (any year and offset: an "
    "instant beyond the years 1 to 9999 UTC keeps everything on its side). When both are given, "
    "`from` must be earlier than `to`, else 400 naming `from`; there are no defaults."
)
Since = Annotated[
    str | None,
    _text(64, format="date-time"),
    Query(alias="from", max_length=64, description="Events at or after this instant: " + _MOMENT),
]
Until = Annotated[
    str | None,
    _text(64, format="date-time"),
    Query(alias="to", max_length=64, description="Events before this instant: " + _MOMENT),
]


@router.get(
    "/audit",
    name="list_audit_events",
    responses=answers.envelope(AuditEnvelope, *answers.MANAGEMENT),
    openapi_extra=query_rules.rules(query_rules.before("from", "to")),
)
async def audit(
    actor: ActorDep,
    services: ServicesDep,
    clientKey: Annotated[
        str | None,
        _text(64),
        Query(max_length=64, description="Only events about this client (or other target)."),
    ] = None,
    actorCode: Annotated[
        str | None,
        _text(100),
        Query(max_length=100, alias="actor", description="Only events by this login or code."),
    ] = None,
    action: Annotated[
        str | None,
        _text(64),
        Query(max_length=64, description="Only events of this action, such as client.update."),
    ] = None,
    since: Since = None,
    until: Until = None,
    cursor: Annotated[
        str | None,
        _text(cursor_max_length(AUDIT_CURSOR), **matching(cursor_pattern(AUDIT_CURSOR))),
        Query(
            max_length=cursor_max_length(AUDIT_CURSOR),
            description="The nextCursor of the previous page.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Events per page.")] = 50,
) -> Response:
    """Changes to the org's clients, admins, Tills and scope entities: who (a principal of the
    org, or an operator at the command line), what (a before/after diff, never a secret), when,
    and from which request and address. Pass ``nextCursor`` back as ``cursor`` for more."""
    start, end = audit_window(since, until)
    which = AuditFilter(clientKey, actorCode, action, start, end, cursor, limit)
    found = await services.clients.audit(actor, which)
    timezone = found.org.timezone
    return envelope.ok(
        {
            "events": [_event(event, timezone) for event in found.page.events],
            "nextCursor": found.page.next_cursor,
        }
    )
