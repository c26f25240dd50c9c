"""``keyloft audit``: an org's audit trail in the terminal, as the API shows it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from keyloft.cli.common import JsonOpt, with_store
from keyloft.config import Settings
from keyloft.domain.errors import NotFound
from keyloft.domain.timefmt import format_v3
from keyloft.services.audit import AuditService
from keyloft.services.ports import Store


def audit(
    org: Annotated[int, typer.Option(help="Org id.")],
    client_key: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    actor: Annotated[
        str | None, typer.Option(help="Only this admin username or Till code.")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. client.update.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Events per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The nextCursor of a previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Changes to an org's clients, newest first."""
    settings = Settings()

    async def work(store: Store) -> dict[str, Any]:
        found = await store.orgs.get(org)
        if found is None:
            raise NotFound(f"No org with id {org}.")
        timezone = found.timezone
        page = await AuditService(store).find(
            org, client_key=client_key, actor_code=actor, action=action, cursor=cursor, limit=limit
        )
        return {
            "events": [
                {
                    "id": event.id,
                    "at": format_v3(event.at, timezone),
                    "actor": {"code": event.actor.code, "type": event.actor.kind.value},
                    "action": event.action,
                    "target": event.target,
                    "changes": event.changes,
                    "requestId": event.context.request_id,
                }
                for event in page.events
            ],
            "nextCursor": page.next_cursor,
        }

    data = with_store(settings, work)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for event in data["events"]:
        changed = ", ".join(sorted(event["changes"])) or "-"
        typer.echo(
            f"{event['at']}  {event['action']:<24} {event['target']}  "
            f"by {event['actor']['code']} ({event['actor']['type']})  changed: {changed}"
        )
    if data["nextCursor"]:
        typer.echo(f"more: --cursor {data['nextCursor']}")
