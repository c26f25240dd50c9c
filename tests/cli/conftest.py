"""Run the ``keyloft`` command line in a temporary directory with a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from keyloft.cli.main import app
from tests.support.cli import Invoke, logging_as_it_was


@pytest.fixture
def keyloft(workdir: Path) -> Iterator[Invoke]:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    with logging_as_it_was():
        yield invoke


@pytest.fixture
def initialised(keyloft: Invoke) -> Invoke:
    result = keyloft("init")
    assert result.exit_code == 0, result.output
    return keyloft
