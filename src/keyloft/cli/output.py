"""What every ``keyloft`` command shares about its output: the ``--json`` option, printing a
result as text or JSON, and failing with a message on standard error (and, for a refusal
under ``--json``, an error object on standard output)."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

from keyloft.domain.errors import KeyloftError

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


def refuse(error: KeyloftError, as_json: bool = False) -> NoReturn:
    """Fail with a refusal of the rules: its message (and field) on standard error; under
    ``--json`` also ``{"error": {"code", "message", "field"?, …details}}`` on standard output."""
    if as_json:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.field:
            body["field"] = error.field
        body.update(getattr(error, "details", None) or {})
        echo_json({"error": body})
    where = f" ({error.field})" if error.field else ""
    fail(error.message + where)
