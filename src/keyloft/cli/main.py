"""``keyloft`` commands: init, serve, and operator management of orgs, admins, Tills, scopes
(signing keys: ``keyloft.cli.keys``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from keyloft.cli.audit import audit
from keyloft.cli.backup import backup, restore
from keyloft.cli.common import JsonOpt
from keyloft.cli.common import emit as _emit
from keyloft.cli.common import fail as _fail
from keyloft.cli.common import operator as _operator
from keyloft.cli.common import with_store as _with_store
from keyloft.cli.keys import keys_app
from keyloft.config import Settings
from keyloft.domain.actors import PrincipalKind
from keyloft.domain.errors import NotFound
from keyloft.observability import logs, tracing
from keyloft.services import setup
from keyloft.services.clock import SystemClock
from keyloft.services.keys import ServerKeys, rewrap_signing_keys
from keyloft.services.orgs import OrgService
from keyloft.services.ports import Store
from keyloft.services.server_secret import MissingServerSecret, require_server_secret
from keyloft.storage import migrate
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database

app = typer.Typer(help="Keyloft: API client accounts and access tokens.", no_args_is_help=True)
org_app = typer.Typer(help="Manage orgs.", no_args_is_help=True)
admin_app = typer.Typer(help="Manage admin users.", no_args_is_help=True)
till_app = typer.Typer(help="Manage Tills.", no_args_is_help=True)
scope_app = typer.Typer(help="Manage an org's scope entities.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
secret_app = typer.Typer(help="The server secret.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(admin_app, name="admin")
app.add_typer(till_app, name="till")
app.add_typer(scope_app, name="scope")
app.add_typer(db_app, name="db")
app.add_typer(secret_app, name="secret")
app.add_typer(keys_app, name="keys")
app.command("audit")(audit)
app.command("backup")(backup)
app.command("restore")(restore)


def _read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail("--password-stdin given but standard input held no password")
    return password


@app.command()
def init(
    demo: Annotated[
        bool, typer.Option(help="Also create the Demo org, an admin, two Tills.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or migrate the schema, the server secret and the first signing key. Safe to rerun."""
    settings = Settings()
    clock = SystemClock()
    try:
        secret, secret_created = setup.ensure_server_secret(settings)
        setup.ensure_database_file(settings)
    except RuntimeError as exc:
        _fail(str(exc))

    by = _operator()

    async def run() -> dict[str, Any]:
        database = Database(create_engine(settings.database_url, command_timeout=None))
        try:
            before, after = await migrate.upgrade(database.engine)
            async with database.unit_of_work(write=True) as store:
                key_created = await setup.ensure_keys(
                    store, secret, clock, operator=by, algorithm=settings.signing_algorithm
                )
                result: dict[str, Any] = {
                    "changed": secret_created or key_created or before != after,
                    "schema": after,
                }
                if demo:
                    made = await setup.ensure_demo(store, settings, clock, operator=by)
                    result["changed"] = result["changed"] or made.created
                    result["orgId"] = made.org_id
                    if made.created and made.admin is not None:
                        result["admin"] = {
                            "username": made.admin.principal.code,
                            "password": made.admin.password,
                        }
                        result["tills"] = [
                            {
                                "id": till.principal.id,
                                "code": till.principal.code,
                                "password": till.password,
                            }
                            for till in made.tills
                        ]
                return result
        finally:
            await database.dispose()

    result = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
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
    if "admin" in result:
        admin = result["admin"]
        typer.echo(f"\nDemo org {result['orgId']} (Asia/Kolkata). Passwords are shown only now:")
        typer.echo(f"  admin  {admin['username']}  {admin['password']}")
        for till in result["tills"]:
            typer.echo(f"  till   {till['code']} (id {till['id']})  {till['password']}")
        typer.echo(
            f"\nTry: curl -u '{admin['username']}:{admin['password']}' "
            f"{settings.issuer}/v3/integrations/scopes"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API."""
    import uvicorn

    from keyloft.web.server import SERVER_OPTIONS

    try:
        settings = Settings()
    except ValidationError as exc:
        # Name the variables, never echo their values: some are secrets.
        names = [str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()]
        _fail(
            "invalid settings: "
            + "; ".join(
                f"{name if name.isupper() else 'KEYLOFT_' + name.upper()}: {error['msg']}"
                for name, error in zip(names, exc.errors(), strict=True)
            )
        )
    try:
        require_server_secret(settings)
    except MissingServerSecret as exc:
        _fail(str(exc))

    async def signing_keys(store: Store) -> int:
        return len(await store.keys.list())

    if _with_store(settings, signing_keys) == 0:
        _fail("the database has no signing key: run `keyloft init`")
    if settings.otel_endpoint:
        try:
            tracing.ensure_available()
        except tracing.TracingUnavailable as exc:
            _fail(str(exc))
    # Uvicorn applies the same configuration in each worker; its access log stays off
    # (SERVER_OPTIONS: Keyloft writes its own).
    log_config = logs.configure(settings.log_level, settings.log_format or "json")
    # Worker processes read their settings afresh: tell them how many of them there are.
    os.environ["KEYLOFT_WORKERS"] = str(workers)
    metrics_dir = None
    if workers > 1:
        # Each worker counts into files here, read together at a scrape. Workers are fresh
        # interpreters, so they see this before they first import prometheus_client.
        metrics_dir = tempfile.mkdtemp(prefix="keyloft-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "keyloft.web.asgi:create",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            log_level=settings.log_level.lower(),
            **SERVER_OPTIONS,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


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
    by = _operator()

    async def work(store: Store) -> dict[str, Any]:
        org = await OrgService(store, SystemClock(), operator=by).create_org(
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

    data = _with_store(settings, work)
    _emit(data, as_json, f"org {data['id']} {data['name']!r} created")


def _principal_command(
    kind: PrincipalKind, org: int, code: str, name: str | None, password_stdin: bool, as_json: bool
) -> None:
    settings = Settings()
    password = _read_password(password_stdin)
    by = _operator()

    async def work(store: Store) -> dict[str, Any]:
        made = await OrgService(store, SystemClock(), operator=by).add_principal(
            org_id=org, kind=kind, code=code, name=name, password=password
        )
        key = "username" if kind is PrincipalKind.ADMIN_USER else "code"
        return {"id": made.principal.id, key: made.principal.code, "password": made.password}

    data = _with_store(settings, work)
    label = "admin" if kind is PrincipalKind.ADMIN_USER else "till"
    note = "" if password else f"\npassword (shown only now): {data['password']}"
    _emit(data, as_json, f"{label} {data['id']} {code!r} created{note}")


@admin_app.command("create")
def admin_create(
    org: Annotated[int, typer.Option(help="Org id.")],
    username: Annotated[str, typer.Option(help="Login name, unique.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an admin user; a password not given is generated and printed once."""
    _principal_command(PrincipalKind.ADMIN_USER, org, username, None, password_stdin, as_json)


@till_app.command("create")
def till_create(
    org: Annotated[int, typer.Option(help="Org id.")],
    code: Annotated[str, typer.Option(help="Till code (its login), unique.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a Till; a password not given is generated and printed once."""
    _principal_command(PrincipalKind.TILL, org, code, name, password_stdin, as_json)


@scope_app.command("add")
def scope_add(
    org: Annotated[int, typer.Option(help="Org id.")],
    entity: Annotated[str, typer.Option(help="Entity name, e.g. Coupons.")],
    pattern: Annotated[str, typer.Option(help="RE2 pattern of the paths it covers.")],
    as_json: JsonOpt = False,
) -> None:
    """Add a scope entity to an org; it takes the next entity id."""
    settings = Settings()
    by = _operator()

    async def work(store: Store) -> dict[str, Any]:
        made = await OrgService(store, SystemClock(), operator=by).add_scope(
            org_id=org, name=entity, area_pattern=pattern
        )
        return {"id": made.id, "entity": made.name, "pattern": made.area_pattern}

    data = _with_store(settings, work)
    _emit(data, as_json, f"scope entity {data['id']} {data['entity']} added")


@scope_app.command("list")
def scope_list(org: Annotated[int, typer.Option(help="Org id.")], as_json: JsonOpt = False) -> None:
    """List an org's scope entities and the paths each covers."""
    settings = Settings()

    async def work(store: Store) -> list[dict[str, Any]]:
        if await store.orgs.get(org) is None:
            raise NotFound(f"No org with id {org}.")
        entities = await store.scopes.list(org)
        return [{"id": e.id, "entity": e.name, "pattern": e.area_pattern} for e in entities]

    rows = _with_store(settings, work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['id']:>4}  {row['entity']:<20} {row['pattern'] or '(everything else)'}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the schema to the newest revision."""
    settings = Settings()
    setup.ensure_database_file(settings)

    async def run() -> tuple[str | None, str | None]:
        engine = create_engine(settings.database_url, command_timeout=None)
        try:
            return await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    typer.echo("schema already current" if before == after else f"schema {before} -> {after}")


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated schema disagree."""
    settings = Settings()
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        _fail(f"no database at {settings.sqlite_path}: run `keyloft init`")

    async def run() -> list[Any]:
        engine = create_engine(settings.database_url, command_timeout=None)
        try:
            return await migrate.drift(engine)
        finally:
            await engine.dispose()

    differences = asyncio.run(run())
    if differences:
        for difference in differences:
            typer.echo(f"drift: {difference}")
        raise typer.Exit(1)
    typer.echo("models and migrations agree")


@secret_app.command("rewrap")
def secret_rewrap(as_json: JsonOpt = False) -> None:
    """Re-encrypt the signing keys under KEYLOFT_SECRET_KEY (after a rotation).

    Keys still sealed under a secret listed in KEYLOFT_PREVIOUS_SECRET_KEYS are opened with it
    and sealed again under the current one.
    """
    settings = Settings()
    try:
        current = ServerKeys.derive(require_server_secret(settings))
    except MissingServerSecret as exc:
        _fail(str(exc))
    previous = [ServerKeys.derive(secret) for secret in settings.previous_secrets()]
    by = _operator()

    async def work(store: Store) -> dict[str, Any]:
        try:
            moved = await rewrap_signing_keys(
                store, current, previous, operator=by, now=SystemClock().now()
            )
        except RuntimeError as exc:
            _fail(str(exc))
        return {"rewrapped": moved}

    data = _with_store(settings, work)
    moved = data["rewrapped"]
    _emit(
        data,
        as_json,
        f"re-encrypted {len(moved)} signing key(s)"
        if moved
        else "all signing keys already use the current server secret",
    )


def main() -> None:
    app()
