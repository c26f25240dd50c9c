"""``keyloft org``: create an org, with the default scope entities."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, emit
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.services.operators import OperatorServices

org_app = typer.Typer(help="Manage orgs.", no_args_is_help=True)


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Org name, unique.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone for dates.")] = "UTC",
    max_clients: Annotated[int | None, typer.Option(help="Active API clients allowed.")] = None,
    max_token_ttl: Annotated[int | None, typer.Option(help="Longest token lifetime, s.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an org with the default scope entities (TargetGroups, All, Transaction)."""
    settings = Settings()

    async def work(services: OperatorServices) -> dict[str, Any]:
        org = await services.orgs.create_org(
            name=name,
            timezone=timezone,
            max_clients=settings.default_max_clients if max_clients is None else max_clients,
            max_token_ttl=(
                settings.default_max_token_ttl if max_token_ttl is None else max_token_ttl
            ),
            ttl_ceiling=settings.token_ttl_ceiling,
        )
        return {
            "id": org.id,
            "name": org.name,
            "timezone": org.timezone,
            "maxClients": org.max_clients,
            "maxTokenTtl": org.max_token_ttl,
        }

    data = with_services(settings, work)
    emit(data, as_json, f"org {data['id']} {data['name']!r} created")
