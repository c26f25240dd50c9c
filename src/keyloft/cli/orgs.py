"""``keyloft org``: create an org with the default scope entities, list the orgs, and change an
org's name, time zone and limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, echo_json, emit
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.domain.orgs import LimitBelowUse, Org
from keyloft.services.operators import OperatorServices

FORCE_HINT = "Use --force to lower it anyway: existing clients stay as they are."

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
        return _org(org)

    data = with_services(settings, work)
    emit(data, as_json, f"org {data['id']} {data['name']!r} created")


def _org(org: Org) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "timezone": org.timezone,
        "maxClients": org.max_clients,
        "maxTokenTtl": org.max_token_ttl,
        # Only when set (docs/governance.md): secrets of this org's clients expire by default.
        **({"secretLifetime": org.secret_lifetime} if org.secret_lifetime else {}),
    }


@org_app.command("list")
def org_list(as_json: JsonOpt = False) -> None:
    """Every org with its limits and its count of active API clients."""
    settings = Settings()

    async def work(services: OperatorServices) -> list[dict[str, Any]]:
        return [
            {**_org(use.org), "activeClients": use.active_clients}
            for use in await services.org_settings.list()
        ]

    rows = with_services(settings, work, as_json=as_json)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(
            f"{row['id']:>5}  {row['name']}  {row['timezone']}  clients "
            f"{row['activeClients']}/{row['maxClients']}  max token TTL {row['maxTokenTtl']} s"
        )


@org_app.command("update")
def org_update(
    org_id: Annotated[int, typer.Argument(metavar="ID", help="Org id.")],
    name: Annotated[str | None, typer.Option(help="New name, unique.")] = None,
    timezone: Annotated[str | None, typer.Option(help="New IANA time zone for dates.")] = None,
    max_clients: Annotated[int | None, typer.Option(help="Active API clients allowed.")] = None,
    max_token_ttl: Annotated[int | None, typer.Option(help="Longest token lifetime, s.")] = None,
    secret_lifetime: Annotated[
        int | None, typer.Option(help="Default lifetime of new and rotated secrets, s; 0: none.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Lower a limit below current use; existing clients stay as they are."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Change an org's name, time zone or limits (what is not given stays). A limit lowered
    below what the org's active clients use is refused, naming the count, unless --force:
    then those clients stay as they are."""
    settings = Settings()

    async def work(services: OperatorServices) -> dict[str, Any]:
        try:
            org = await services.org_settings.update(
                org_id,
                ttl_ceiling=settings.token_ttl_ceiling,
                name=name,
                timezone=timezone,
                max_clients=max_clients,
                max_token_ttl=max_token_ttl,
                force=force,
                secret_lifetime=secret_lifetime,
            )
        except LimitBelowUse as refused:
            raise refused.with_hint(FORCE_HINT) from None
        return _org(org)

    data = with_services(settings, work, as_json=as_json)
    emit(
        data,
        as_json,
        f"org {data['id']} {data['name']!r}: timezone {data['timezone']}, max clients "
        f"{data['maxClients']}, max token TTL {data['maxTokenTtl']} s",
    )
