"""The audit trail of the caller's org: every change to its clients, admins, Tills and scope
entities, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from keyloft.domain.audit import AuditEvent
from keyloft.domain.timefmt import format_v3
from keyloft.services.client_admin import AuditFilter
from keyloft.web import envelope
from keyloft.web.caller import ActorDep
from keyloft.web.routes.integrations import ERRORS
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


@router.get("/audit", name="list_audit_events", responses={200: {"model": AuditEnvelope}, **ERRORS})
async def audit(
    actor: ActorDep,
    services: ServicesDep,
    clientKey: Annotated[str | None, Query(max_length=64)] = None,
    actorCode: Annotated[str | None, Query(max_length=100, alias="actor")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query()] = 50,
) -> Response:
    """Changes to the org's clients, admins, Tills and scope entities: who (a principal of the
    org, or an operator at the command line), what (a before/after diff, never a secret), when,
    and from which request and address. Pass ``nextCursor`` back as ``cursor`` for more."""
    which = AuditFilter(clientKey, actorCode, action, since, until, cursor, limit)
    found = await services.clients.audit(actor, which)
    timezone = found.org.timezone
    return envelope.ok(
        {
            "events": [_event(event, timezone) for event in found.page.events],
            "nextCursor": found.page.next_cursor,
        }
    )
