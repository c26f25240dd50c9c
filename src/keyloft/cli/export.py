"""``keyloft export --org ID``: one org as a manifest that ``keyloft apply`` takes back as it is
(every change "unchanged"). It holds no secret: clients have their keys and rules, never a
secret or its hash."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from keyloft.cli.output import fail
from keyloft.cli.units_of_work import CommandTransactions, with_transactions
from keyloft.config import Settings
from keyloft.domain.errors import KeyloftError, StoreFailure
from keyloft.manifest.model import Manifest
from keyloft.manifest.render import render_manifest
from keyloft.services.manifest_export import export_org


def export(
    org: Annotated[int, typer.Option(help="Org id.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (default: standard output)."),
    ] = None,
) -> None:
    """Write an org (settings, scope entities, Tills, active clients) as a manifest."""
    settings = Settings()

    async def work(transactions: CommandTransactions) -> Manifest:
        async with transactions(write=False) as store:
            return await export_org(store, org)

    try:
        manifest = asyncio.run(with_transactions(settings, work))
    except KeyloftError as refused:
        fail(refused.message)
    except StoreFailure as failure:
        fail(failure.message)
    text = render_manifest(manifest)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    clients = len(manifest.orgs[0].clients)
    typer.echo(f"org {org} ({clients} client{'s' if clients != 1 else ''}) written to {output}")
