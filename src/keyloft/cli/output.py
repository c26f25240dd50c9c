"""What every ``keyloft`` command shares about its output: the ``--json`` option, printing a
result as text or JSON, and failing with a message on standard error."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        echo_json(data)
    else:
        typer.echo(text)
