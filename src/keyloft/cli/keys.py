"""``keyloft keys``: rotate, list and retire the keys that sign access tokens.

Every change is announced to running nodes (over Redis when configured), which reload their
key ring; without Redis they pick it up within their periodic refresh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from keyloft.cli.output import JsonOpt, echo_json, emit, fail
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.domain.signing import ALGORITHMS
from keyloft.services.keys import KeyStatus, ServerKeys
from keyloft.services.operators import OperatorServices
from keyloft.services.server_secret import MissingServerSecret, server_keys

keys_app = typer.Typer(help="Rotate, list and retire the token signing keys.", no_args_is_help=True)

# The JWKS is cached for up to 300 s, and a node reloads its keys at least every 60 s.
SAFE_DELAY = 360


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _row(status: KeyStatus) -> dict[str, Any]:
    return {
        "kid": status.kid,
        "algorithm": status.algorithm,
        "created": _when(status.created),
        "activates": _when(status.activates),
        "retired": _when(status.retired),
        "state": status.state,
        "published": status.published,
        "publishedUntil": _when(status.published_until),
    }


def _server_keys(settings: Settings) -> ServerKeys:
    try:
        return server_keys(settings)
    except MissingServerSecret as exc:
        fail(str(exc))


@keys_app.command("rotate")
def keys_rotate(
    publish_delay: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Seconds the new key is published before it signs "
            "(default KEYLOFT_KEY_PUBLISH_DELAY_SECONDS).",
        ),
    ] = None,
    algorithm: Annotated[
        str | None,
        typer.Option(
            help=f"Algorithm of the new key: {', '.join(ALGORITHMS)} "
            "(default KEYLOFT_SIGNING_ALGORITHM).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a signing key: published at once, signing after the publish delay. The key it
    supersedes stays published until every token it signed has expired, so rotating to a key
    of another algorithm moves the deployment to that algorithm without refusing old tokens."""
    settings = Settings()
    chosen = settings.signing_algorithm if algorithm is None else algorithm
    if chosen not in ALGORITHMS:
        fail(f"unknown signing algorithm {chosen!r}: use one of {', '.join(ALGORITHMS)}")
    keys = _server_keys(settings)
    delay = settings.key_publish_delay_seconds if publish_delay is None else publish_delay

    async def work(services: OperatorServices) -> dict[str, Any]:
        key = await services.keys.rotate(keys, delay, chosen)
        return {
            "kid": key.kid,
            "algorithm": key.algorithm,
            "created": _when(key.created_at),
            "activates": _when(key.starts),
            "publishDelaySeconds": delay,
        }

    data = with_services(settings, work)
    if delay < SAFE_DELAY:
        typer.secho(
            f"warning: a publish delay under {SAFE_DELAY} s may sign tokens before verifiers "
            "that cache the key set have fetched the new key",
            err=True,
        )
    emit(
        data,
        as_json,
        f"signing key {data['kid']} ({data['algorithm']}) added: published now, "
        f"signs from {data['activates']}",
    )


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """Every signing key: when it was created and starts signing, its state (pending, active,
    superseded, retired), and whether (and until when) it is published in the JWKS."""
    settings = Settings()

    async def work(services: OperatorServices) -> list[dict[str, Any]]:
        return [_row(status) for status in await services.keys.statuses()]

    rows = with_services(settings, work)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(
            f"{row['kid']:<24} {row['algorithm']:<6} {row['state']:<10} "
            f"activates {row['activates']}  {_shown(row)}"
        )


def _shown(row: dict[str, Any]) -> str:
    if not row["published"]:
        return "unpublished"
    return f"published until {row['publishedUntil']}" if row["publishedUntil"] else "published"


@keys_app.command("retire")
def keys_retire(
    kid: Annotated[str, typer.Argument(help="The kid of the key to retire.")],
    as_json: JsonOpt = False,
) -> None:
    """Stop a key signing at once (e.g. when it may be compromised). It stays published until
    every token it signed has expired; retiring the last key able to sign is refused."""
    settings = Settings()

    async def work(services: OperatorServices) -> dict[str, Any]:
        return _row(await services.keys.retire(kid))

    data = with_services(settings, work)
    emit(
        data,
        as_json,
        f"signing key {kid} retired: published until {data['publishedUntil']}",
    )
