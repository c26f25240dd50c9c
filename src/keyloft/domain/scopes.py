"""Scope entities, grants, and the access decision: may this grant set do METHOD on PATH?

The decision is a pure function. A path belongs to the first entity (lowest id) whose area
pattern fully matches it, else to the org's fallback entity (``All``). The caller needs a grant
for that entity; when the grant lists resource patterns, the path must fully match one of them.
READ allows GET/HEAD, WRITE allows POST/PUT/PATCH/DELETE, READWRITE both.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keyloft.domain.patterns import full_match


class Permission(enum.StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    READWRITE = "READWRITE"

    def allows(self, method: str) -> bool:
        method = method.upper()
        if method in READ_METHODS:
            return self in (Permission.READ, Permission.READWRITE)
        if method in WRITE_METHODS:
            return self in (Permission.WRITE, Permission.READWRITE)
        return False

    def covers(self, other: Permission) -> bool:
        return self is other or self is Permission.READWRITE


READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class ScopeEntity:
    """An org's scope entity: ``area_pattern`` None marks the fallback (``All``)."""

    id: int
    name: str
    area_pattern: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    entity_id: int
    permission: Permission
    resources: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    entity_id: int | None = None


DEFAULT_ENTITIES: tuple[ScopeEntity, ...] = (
    ScopeEntity(1, "TargetGroups", r".*v3/targetGroups.*"),
    ScopeEntity(2, "All", None),
    ScopeEntity(3, "Transaction", r".*v1\.1/transaction.*"),
)


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")  # a fixed class: linear, no backtracking


def normalise_path(raw_path: str) -> str | None:
    """The path a decision is made on, or None when it must be refused outright.

    The query string is dropped. The path is matched as sent (no percent-decoding, case kept),
    so that what is checked is what the upstream receives. Paths an upstream could resolve
    differently from what the patterns see are refused: dot segments, encoded slashes or
    backslashes, and control characters (including a trailing newline).
    """
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/"):
        return None
    if _CONTROL_OR_SPACE.search(path):
        return None
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered or "\\" in path or "%2e" in lowered:
        return None
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        return None
    return path


def entity_for_path(entities: Sequence[ScopeEntity], path: str) -> ScopeEntity | None:
    fallback: ScopeEntity | None = None
    for entity in sorted(entities, key=lambda e: e.id):
        if entity.area_pattern is None:
            fallback = fallback or entity
        elif full_match(entity.area_pattern, path):
            return entity
    return fallback


def decide(
    entities: Sequence[ScopeEntity], grants: Iterable[Grant], method: str, raw_path: str
) -> Decision:
    """May a holder of ``grants`` call ``method raw_path``? Pure and total: never raises."""
    path = normalise_path(raw_path)
    if path is None:
        return Decision(False, "path_rejected")
    entity = entity_for_path(entities, path)
    if entity is None:
        return Decision(False, "no_entity")
    grant = next((g for g in grants if g.entity_id == entity.id), None)
    if grant is None:
        return Decision(False, "no_grant", entity.id)
    if not grant.permission.allows(method):
        return Decision(False, "permission", entity.id)
    if grant.resources and not any(full_match(p, path) for p in grant.resources):
        return Decision(False, "resource", entity.id)
    return Decision(True, "allowed", entity.id)


def intersect(first: Grant, second: Grant) -> Grant | None:
    """What both grants allow (same entity), or None when they share nothing.

    Resource lists intersect as sets of patterns: a path must satisfy both grants, and the
    intersection of two regular languages has no pattern list of its own in general, so only
    patterns both lists name survive (stricter, never wider).
    """
    if first.entity_id != second.entity_id:
        return None
    if first.permission.covers(second.permission):
        permission = second.permission
    elif second.permission.covers(first.permission):
        permission = first.permission
    else:
        return None
    if not first.resources:
        resources = second.resources
    elif not second.resources:
        resources = first.resources
    else:
        resources = tuple(p for p in first.resources if p in set(second.resources))
        if not resources:
            return None
    return Grant(first.entity_id, permission, resources)


def grant_covers(holder: Grant | None, wanted: Grant) -> bool:
    """Does ``holder`` include everything ``wanted`` asks for (same entity)?

    Regex containment is undecidable in general, so a holder limited to resource patterns
    covers only a request limited to a subset of those very patterns.
    """
    if holder is None or holder.entity_id != wanted.entity_id:
        return False
    if not holder.permission.covers(wanted.permission):
        return False
    if not holder.resources:
        return True
    return bool(wanted.resources) and set(wanted.resources) <= set(holder.resources)


def grants_cover(holder: Iterable[Grant], wanted: Iterable[Grant]) -> Grant | None:
    """The first wanted grant that ``holder`` does not cover, or None when all are covered."""
    by_entity = {g.entity_id: g for g in holder}
    for grant in wanted:
        if not grant_covers(by_entity.get(grant.entity_id), grant):
            return grant
    return None
