"""Reading what the ``keyloft`` command line printed and what it stored in its SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import Result

Invoke = Callable[..., Result]


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
