"""``keyloft init``: the schema, the server secret, the first signing key and, on request,
the Demo org; safe to rerun."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, echo_json, fail
from keyloft.cli.work import open_database, operator, unit_of_work
from keyloft.config import Settings
from keyloft.domain.audit import Operator
from keyloft.services import setup
from keyloft.services.clock import SystemClock
from keyloft.storage import migrate


def init(
    demo: Annotated[
        bool, typer.Option(help="Also create the Demo org, an admin, two Tills.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or migrate the schema, the server secret and the first signing key. Safe to rerun."""
    settings = Settings()
    try:
        secret, secret_created = setup.ensure_server_secret(settings)
        setup.ensure_database_file(settings)
    except RuntimeError as exc:
        fail(str(exc))
    schema, done = asyncio.run(_initialise(settings, secret, operator(), demo=demo))
    result = _result(schema, done, secret_created=secret_created)
    if as_json:
        echo_json(result)
    else:
        _print(result, settings, demo=demo)


async def _initialise(
    settings: Settings, secret: str, by: Operator, *, demo: bool
) -> tuple[tuple[str | None, str | None], setup.Initialised]:
    """Migrate, then make what is missing; returns the schema revisions before and after."""
    database = open_database(settings.database_url)
    try:
        schema = await migrate.upgrade(database.engine)
        async with unit_of_work(database, write=True) as store:
            done = await setup.initialise(
                store, settings, secret, SystemClock(), operator=by, demo=demo
            )
        return schema, done
    finally:
        await database.dispose()


def _result(
    schema: tuple[str | None, str | None], done: setup.Initialised, *, secret_created: bool
) -> dict[str, Any]:
    before, after = schema
    result: dict[str, Any] = {
        "changed": secret_created or done.key_created or before != after,
        "schema": after,
    }
    made = done.demo
    if made is None:
        return result
    result["changed"] = result["changed"] or made.created
    result["orgId"] = made.org_id
    if made.created and made.admin is not None:
        result["admin"] = {"username": made.admin.principal.code, "password": made.admin.password}
        result["tills"] = [
            {"id": till.principal.id, "code": till.principal.code, "password": till.password}
            for till in made.tills
        ]
    return result


def _print(result: dict[str, Any], settings: Settings, *, demo: bool) -> None:
    if not result["changed"]:
        typer.echo(
            "Keyloft is already initialised: nothing changed"
            + (
                f" (Demo org id {result['orgId']}; its passwords were shown when it was made)."
                if demo
                else "."
            )
        )
        return
    typer.echo(f"Keyloft initialised (schema {result['schema']}).")
    if "admin" not in result:
        return
    admin = result["admin"]
    typer.echo(f"\nDemo org {result['orgId']} (Asia/Kolkata). Passwords are shown only now:")
    typer.echo(f"  admin  {admin['username']}  {admin['password']}")
    for till in result["tills"]:
        typer.echo(f"  till   {till['code']} (id {till['id']})  {till['password']}")
    typer.echo(
        f"\nTry: curl -u '{admin['username']}:{admin['password']}' "
        f"{settings.issuer}/v3/integrations/scopes"
    )
