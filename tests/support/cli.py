"""Reading what the ``keyloft`` command line printed and what it stored in its SQLite file."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def logging_as_it_was() -> Iterator[None]:
    """Put every logger back as it was: ``keyloft serve`` run in process configures logging
    for the process, with handlers on the test runner's stderr, which is closed afterwards."""
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, level, propagate, disabled in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
