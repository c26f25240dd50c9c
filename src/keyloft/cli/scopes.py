"""``keyloft scope``: add an org's scope entities and list them with the paths they cover."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, echo_json, emit
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.services.operators import OperatorServices

scope_app = typer.Typer(help="Manage an org's scope entities.", no_args_is_help=True)

OrgOpt = Annotated[int, typer.Option(help="Org id.")]


@scope_app.command("add")
def scope_add(
    org: OrgOpt,
    entity: Annotated[str, typer.Option(help="Entity name, e.g. Coupons.")],
    pattern: Annotated[str, typer.Option(help="RE2 pattern of the paths it covers.")],
    as_json: JsonOpt = False,
) -> None:
    """Add a scope entity to an org; it takes the next entity id."""
    settings = Settings()

    async def work(services: OperatorServices) -> dict[str, Any]:
        made = await services.orgs.add_scope(org_id=org, name=entity, area_pattern=pattern)
        return {"id": made.id, "entity": made.name, "pattern": made.area_pattern}

    data = with_services(settings, work)
    emit(data, as_json, f"scope entity {data['id']} {data['entity']} added")


@scope_app.command("list")
def scope_list(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """List an org's scope entities and the paths each covers."""
    settings = Settings()

    async def work(services: OperatorServices) -> list[dict[str, Any]]:
        entities = await services.orgs.scopes(org)
        return [{"id": e.id, "entity": e.name, "pattern": e.area_pattern} for e in entities]

    rows = with_services(settings, work)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['id']:>4}  {row['entity']:<20} {row['pattern'] or '(everything else)'}")
