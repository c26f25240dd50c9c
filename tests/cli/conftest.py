"""Run the ``keyloft`` command line in a temporary directory with a temporary SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from keyloft.cli.main import app

Invoke = Callable[..., Result]


@pytest.fixture
def keyloft(workdir: Path) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def initialised(keyloft: Invoke) -> Invoke:
    result = keyloft("init")
    assert result.exit_code == 0, result.output
    return keyloft


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(db: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as connection:
        found = connection.execute(query, params).fetchall()
    connection.close()
    return found


def password_hash(db: Path, code: str) -> str:
    (found,) = rows(db, "SELECT password_hash FROM principals WHERE code = ?", code)
    return str(found[0])
