"""What is wrong with a manifest, and where: each problem names the field by its path in the
file (``orgs[0].clients[3].expirationTokenTime``), and ``Locations`` turns that path into the
line it is on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Path = tuple[str | int, ...]
"""Where a value is in the file: mapping keys and list indexes from the top."""

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    message: str
    line: int | None = None
    """The line, when the path alone does not tell it (a repeated key: the repeat's line)."""

    @property
    def field(self) -> str:
        return dotted(self.path)


class ManifestInvalid(Exception):
    """The manifest cannot be applied as it is; nothing was changed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def dotted(path: Path) -> str:
    """``("orgs", 0, "clients", 3, "name")`` as ``orgs[0].clients[3].name``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def parse_dotted(text: str) -> Path:
    """The inverse of ``dotted`` (``scopes[0].entityId`` → ``("scopes", 0, "entityId")``);
    ``()`` for text that is not such a path (a field named in prose, say)."""
    steps: list[str | int] = []
    position = 0
    for match in _STEP.finditer(text):
        gap = text[position : match.start()]
        if gap not in ("", "."):
            return ()
        key, index = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    if position != len(text) or any(" " in str(step) for step in steps):
        return ()
    return tuple(steps)


class Locations:
    """The line (1-based) of each key and list item of a file, by path."""

    def __init__(self, lines: Mapping[Path, int]) -> None:
        self._lines = dict(lines)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of the nearest enclosing value the file holds (a missing
        key is reported on its mapping's line)."""
        for length in range(len(path), 0, -1):
            found = self._lines.get(path[:length])
            if found is not None:
                return found
        return self._lines.get((), 1)
