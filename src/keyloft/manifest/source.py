"""Reading a manifest: YAML (safe: plain data only) composed into nodes first, so that every key
and list item keeps its line; duplicate keys, which YAML loaders otherwise let the last one
win, and merge keys (``<<``) are refused; then the model validates it. Every problem is
reported with its path and line (``ManifestFileInvalid``); the first error of YAML syntax
stops the reading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from keyloft.manifest.model import Manifest
from keyloft.manifest.problems import Locations, ManifestInvalid, Path, Problem

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
"""Aliases may repeat a node many times over (a "billion laughs" file): walking stops here."""
_MERGE = "tag:yaml.org,2002:merge"
_NO_MERGE = "merge keys (<<) are not supported: repeat the keys, or give a value an anchor"


@dataclass(frozen=True, slots=True)
class LoadedManifest:
    manifest: Manifest
    locations: Locations


class ManifestFileInvalid(ManifestInvalid):
    """Problems of one file, each with the line it is on."""

    def __init__(self, name: str, problems: list[Problem], locations: Locations) -> None:
        super().__init__(problems)
        self.name = name
        self.locations = locations

    def lines(self) -> list[tuple[int, Problem]]:
        return [
            (problem.line or self.locations.line(problem.path), problem)
            for problem in self.problems
        ]


@dataclass(frozen=True, slots=True)
class _SyntaxProblem:
    line: int
    message: str


def read_manifest(file: FilePath) -> LoadedManifest:
    """The manifest in ``file``; ``ManifestFileInvalid`` for a file that cannot be read or
    is not a valid manifest."""
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _at_line(str(file), 1, f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise _at_line(str(file), 1, f"the file is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _at_line(str(file), 1, "the file is not UTF-8 text") from None
    return parse_manifest(text, str(file))


def parse_manifest(text: str, name: str) -> LoadedManifest:
    """The manifest ``text`` holds; ``name`` names it in problems."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _syntax(name, exc) from None
        lines: dict[Path, int] = {(): 1}
        problems: list[Problem] = []
        if root is not None:
            lines[()] = root.start_mark.line + 1
            _walk(root, (), lines, problems, [0], set())
        locations = Locations(lines)
        if problems:
            raise ManifestFileInvalid(name, problems, locations)
        try:
            data = loader.construct_document(root) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            raise _syntax(name, exc) from None
    finally:
        loader.dispose()
    if data is None:
        raise ManifestFileInvalid(
            name, [Problem((), "the file is empty: it needs version and orgs")], locations
        )
    try:
        return LoadedManifest(Manifest.model_validate(data), locations)
    except ValidationError as exc:
        raise ManifestFileInvalid(name, _problems(exc), locations) from None


def _walk(
    node: Node,
    path: Path,
    lines: dict[Path, int],
    problems: list[Problem],
    count: list[int],
    open_nodes: set[int],
) -> None:
    """Record the line of every key and item under ``node``; collect duplicate keys, merge
    keys, keys that are not plain strings and aliases that contain themselves."""
    count[0] += 1
    if count[0] > MAX_NODES:
        if count[0] == MAX_NODES + 1:
            problems.append(Problem(path, f"the file holds more than {MAX_NODES} values"))
        return
    if id(node) in open_nodes:
        problems.append(Problem(path, "an alias refers to a value that contains it"))
        return
    open_nodes.add(id(node))
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.tag == _MERGE:
                problems.append(Problem(path, _NO_MERGE, line))
                continue
            if not isinstance(key, ScalarNode) or not isinstance(key.value, str):
                problems.append(Problem(path, "keys must be plain strings", line))
                continue
            where = (*path, key.value)
            if key.value in seen:
                message = f"duplicate key {key.value!r} (first on line {lines[where]})"
                problems.append(Problem(where, message, line))
                continue
            seen.add(key.value)
            lines[where] = line
            _walk(value, where, lines, problems, count, open_nodes)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, problems, count, open_nodes)
    open_nodes.discard(id(node))


def _problems(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    unions: dict[Path, tuple[int, list[str]]] = {}  # path -> its problem, the types tried
    for item in error.errors(include_url=False):
        loc: Path = tuple(item["loc"])
        path = _clean(loc)
        kind = item["type"]
        if path != loc:
            at, tried = unions.setdefault(path, (len(problems), []))
            if at == len(problems):
                problems.append(Problem(path, ""))
            tried.append(str(loc[len(path)]))
            problems[at] = Problem(path, _with_input(_one_of(tried), item.get("input"), kind))
            continue
        if kind == "extra_forbidden":
            message = f"unknown key {path[-1]!r}"
        elif kind == "missing":
            message = f"{path[-1]} is required"
        else:
            message = _with_input(item["msg"], item.get("input"), kind)
        problems.append(Problem(path, message))
    return problems


_TYPE_NAMES = {"str": "a string", "int": "an integer", "bool": "a boolean", "float": "a number"}


def _one_of(types: list[str]) -> str:
    names = [_TYPE_NAMES.get(name, name) for name in types]
    return "Input should be " + (
        names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    )


def _clean(path: Path) -> Path:
    """The loc of a Pydantic error without the names of the types a union tried."""
    kept: list[str | int] = []
    for step in path:
        if isinstance(step, str) and step in _TYPE_NAMES:
            break
        kept.append(step)
    return tuple(kept)


def _with_input(message: str, given: Any, kind: str) -> str:
    if kind.endswith("_type") or kind == "literal_error":
        shown = repr(given) if not isinstance(given, dict | list) else type(given).__name__
        return f"{message} (got {shown[:80]})"
    return message


def _syntax(name: str, error: yaml.MarkedYAMLError) -> ManifestFileInvalid:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = " ".join(part for part in (error.context, error.problem) if part)
    return _at_line(name, line, f"YAML syntax: {message or 'invalid'}")


def _at_line(name: str, line: int, message: str) -> ManifestFileInvalid:
    return ManifestFileInvalid(name, [Problem((), message, line)], Locations({}))
