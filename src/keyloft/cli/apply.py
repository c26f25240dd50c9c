"""``keyloft apply -f FILE``: make Keyloft match a manifest (docs/config-as-code.md). Prints
the plan; unless ``--dry-run``, applies it, one transaction per org; prints new clients'
secrets and new Tills' passwords once. A file with any problem changes nothing: each problem
is reported as ``FILE:LINE: field: message``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from keyloft.cli.output import JsonOpt, echo_json, fail
from keyloft.cli.plan_output import outcome_text, plan_json, plan_text, problem_json
from keyloft.cli.units_of_work import CommandTransactions, with_transactions
from keyloft.cli.work import operator
from keyloft.config import Settings
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import StoreFailure
from keyloft.manifest.problems import Locations, ManifestInvalid
from keyloft.manifest.source import ManifestFileInvalid, read_manifest
from keyloft.services.clock import SystemClock
from keyloft.services.manifest_apply import Deployment, ManifestApplication, OrgOutcome
from keyloft.services.manifest_plan import OrgDefaults, Plan
from keyloft.services.server_secret import MissingServerSecret, server_keys


def apply(
    file: Annotated[
        Path, typer.Option("-f", "--file", help="The manifest (YAML).", show_default=False)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Delete (softly) the active clients of its orgs it does not declare."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create, update and (with --prune) delete what a manifest declares: orgs, scope
    entities, Tills and API clients. Applying the same file again changes nothing."""
    settings = Settings()
    name = str(file)
    try:
        loaded = read_manifest(file)
    except ManifestFileInvalid as invalid:
        _refuse(invalid, invalid.locations, name, as_json)
    try:
        keys = server_keys(settings)
    except MissingServerSecret as exc:
        fail(str(exc))
    deployment = Deployment(
        clock=SystemClock(),
        hasher=SecretHasher(keys.client_secret_hmac),
        operator=operator(),
        defaults=OrgDefaults(
            max_clients=settings.default_max_clients,
            max_token_ttl=settings.default_max_token_ttl,
            ttl_ceiling=settings.token_ttl_ceiling,
        ),
        allow_http=settings.federation_allow_http,
        client_ca=settings.client_ca_certs is not None,
    )

    async def work(transactions: CommandTransactions) -> tuple[Plan, list[OrgOutcome] | None]:
        application = ManifestApplication(transactions, deployment)
        plan = await application.plan(loaded.manifest, prune=prune)
        return plan, await application.carry_out(plan, dry_run=dry_run)

    try:
        plan, outcomes = asyncio.run(with_transactions(settings, work))
    except ManifestInvalid as invalid:
        _refuse(invalid, loaded.locations, name, as_json)
    except StoreFailure as failure:
        fail(f"{failure.message} Nothing was changed.")
    failures = {
        index: loaded.locations.line(outcome.problem.path)
        for index, outcome in enumerate(outcomes or [])
        if outcome.problem is not None
    }
    if as_json:
        echo_json(plan_json(name, plan, outcomes, dry_run=dry_run, problem_line=failures))
    else:
        _print(plan, outcomes, dry_run=dry_run)
    for index, line in failures.items():
        problem = (outcomes or [])[index].problem
        assert problem is not None
        typer.secho(f"error: {name}:{line}: {_where(problem.field)}{problem.message}", err=True)
    if failures:
        raise typer.Exit(1)


def _print(plan: Plan, outcomes: list[OrgOutcome] | None, *, dry_run: bool) -> None:
    if not plan.writes:
        typer.echo(plan_text(plan))
        typer.echo("No changes: Keyloft already matches the file.")
        return
    typer.echo(plan_text(plan))
    if dry_run or outcomes is None:
        typer.echo("Dry run: nothing was changed.")
        return
    typer.echo("")
    for line in outcome_text(plan, outcomes):
        typer.echo(line)


def _where(field: str) -> str:
    return f"{field}: " if field else ""


def _refuse(invalid: ManifestInvalid, locations: Locations, name: str, as_json: bool) -> NoReturn:
    """Report every problem with its line, and fail: nothing was changed."""
    located = [
        (problem.line or locations.line(problem.path), problem) for problem in invalid.problems
    ]
    if as_json:
        echo_json(
            {"file": name, "errors": [problem_json(problem, line) for line, problem in located]}
        )
    for line, problem in located:
        typer.secho(f"error: {name}:{line}: {_where(problem.field)}{problem.message}", err=True)
    count = len(located)
    fail(f"{name}: {count} problem{'s' if count != 1 else ''}; nothing was changed.")
