"""``keyloft audit``: the audit trail in the terminal, as the API shows it; an operator sees
every org's events and the deployment-wide ones (signing keys, the server secret)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, echo_json, fail
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.domain.audit import AuditEvent
from keyloft.domain.timefmt import format_v3
from keyloft.services.operators import OperatorServices


def _actor(event: AuditEvent) -> dict[str, Any]:
    if event.actor is None:
        return {"code": event.operator, "type": "OPERATOR"}
    return {"code": event.actor.code, "type": event.actor.kind.value}


def audit(
    org: Annotated[
        int | None, typer.Option(help="Only this org's events (default: every event).")
    ] = None,
    deployment: Annotated[
        bool, typer.Option("--deployment", help="Only deployment-wide events (keys, secret).")
    ] = False,
    client_key: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    actor: Annotated[
        str | None,
        typer.Option(help="Only this admin username, Till code or operator (user@host)."),
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. client.update.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Events per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The nextCursor of a previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Changes to clients, admins, Tills, scope entities, signing keys and the server secret,
    newest first. Times are in the org's time zone with --org, else UTC."""
    settings = Settings()
    if org is not None and deployment:
        fail("--org and --deployment exclude each other", code=2)

    async def work(services: OperatorServices) -> dict[str, Any]:
        trail = services.audit
        timezone = await trail.timezone(org)
        page = await trail.find(
            org,
            everywhere=org is None and not deployment,
            client_key=client_key,
            actor_code=actor,
            action=action,
            cursor=cursor,
            limit=limit,
        )
        return {
            "events": [
                {
                    "id": event.id,
                    "at": format_v3(event.at, timezone),
                    "orgId": event.org_id,
                    "actor": _actor(event),
                    "action": event.action,
                    "target": {"type": event.target_type, "key": event.target},
                    "changes": event.changes,
                    "requestId": event.context.request_id,
                    "sourceIp": event.context.source_ip,
                }
                for event in page.events
            ],
            "nextCursor": page.next_cursor,
        }

    data = with_services(settings, work)
    if as_json:
        echo_json(data)
        return
    for event in data["events"]:
        changed = ", ".join(sorted(event["changes"])) or "-"
        where = f"org {event['orgId']}" if event["orgId"] is not None else "deployment"
        typer.echo(
            f"{event['at']}  {where:<10} {event['action']:<24} {event['target']['key']}  "
            f"by {event['actor']['code']} ({event['actor']['type']})  changed: {changed}"
        )
    if data["nextCursor"]:
        typer.echo(f"more: --cursor {data['nextCursor']}")
