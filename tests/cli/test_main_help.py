"""Every ``keyloft`` command and sub-command answers ``--help``."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from keyloft.cli.main import app
from tests.support.cli import Invoke

COMMANDS = [
    (),
    ("init",),
    ("serve",),
    ("org",),
    ("org", "create"),
    ("org", "list"),
    ("org", "update"),
    ("admin",),
    ("admin", "create"),
    *[("admin", verb) for verb in ("list", "passwd", "disable", "enable", "delete")],
    ("till",),
    ("till", "create"),
    *[("till", verb) for verb in ("list", "passwd", "disable", "enable", "delete")],
    ("scope",),
    ("scope", "add"),
    ("scope", "list"),
    ("db",),
    ("db", "upgrade"),
    ("db", "check"),
    ("audit",),
    ("backup",),
    ("restore",),
    ("secret",),
    ("secret", "rewrap"),
    ("keys",),
    ("keys", "rotate"),
    ("keys", "list"),
    ("keys", "retire"),
    ("apply",),
    ("export",),
    ("schema",),
]


def _tree(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += _tree(sub, (*prefix, name))
    return found


def test_the_list_names_every_command() -> None:
    assert sorted(_tree(typer.main.get_command(app))) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "keyloft")
def test_help(keyloft: Invoke, command: tuple[str, ...]) -> None:
    result = keyloft(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert "--help" in result.stdout
