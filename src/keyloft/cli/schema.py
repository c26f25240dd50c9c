"""``keyloft schema``: the JSON Schema of the manifest ``keyloft apply`` reads, for editors
(docs/config-as-code.md); the same file the package ships."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyloft.cli.output import fail
from keyloft.manifest.schema import schema_text


def schema(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (default: standard output)."),
    ] = None,
) -> None:
    """Print the manifest's JSON Schema (draft 2020-12)."""
    text = schema_text()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
