"""A plan: what applying a manifest would create, update, delete or leave unchanged, with the
fields that differ, and what every step needs to be carried out (``manifest_planner`` makes
one; ``manifest_apply`` carries it out).

Identity: an org by its name; a scope entity by its name within its org; a Till by its code;
a client by its name among its org's active clients. A client renamed in the file is another
client: the old one is left (deleted with ``prune``) and a new one made.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from keyloft.domain.clients import Client
from keyloft.domain.errors import ValidationFailed
from keyloft.manifest.model import ClientSpec, OrgSpec, ScopeEntitySpec, TillSpec
from keyloft.manifest.problems import Path, Problem, parse_dotted
from keyloft.services.manifest_state import OrgState

Action = Literal["create", "update", "delete", "unchanged"]
Kind = Literal["org", "scopeEntity", "till", "client"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "unchanged")

# The API's names of a client's fields where the file names them otherwise.
_FILE_FIELDS = {"defaultTillId": "defaultTill", "entityId": "entity"}


@dataclass(frozen=True, slots=True)
class OrgDefaults:
    """What a new org gets for the settings a file leaves out, and the deployment's cap."""

    max_clients: int
    max_token_ttl: int
    ttl_ceiling: int
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Change:
    action: Action
    kind: Kind
    name: str
    path: Path
    """Where the object is declared (a client to delete: its org's ``clients``)."""
    fields: dict[str, list[Any]] = field(default_factory=dict)
    """``{field: [before, after]}``; ``before`` is None for a new object."""


@dataclass(frozen=True, slots=True)
class ClientStep:
    change: Change
    spec: ClientSpec | None
    """None for a client to delete."""
    current: Client | None
    """None for a client to create."""


@dataclass(frozen=True, slots=True)
class OrgPlan:
    index: int
    spec: OrgSpec
    state: OrgState | None
    """None: the org is new."""
    org: Change
    settings_first: dict[str, Any]
    """Settings set before the clients change (a new org: all of them; else the time zone and
    limits raised)…"""
    settings_last: dict[str, Any]
    """… and after (limits lowered: the clients may first come within them)."""
    entities: list[tuple[Change, ScopeEntitySpec]]
    tills: list[tuple[Change, TillSpec]]
    clients: list[ClientStep]
    undeclared: list[str]
    """Active clients the file does not declare, left as they are (without ``prune``)."""

    @property
    def changes(self) -> list[Change]:
        return [
            self.org,
            *(change for change, _ in self.entities),
            *(change for change, _ in self.tills),
            *(step.change for step in self.clients),
        ]

    @property
    def writes(self) -> bool:
        return any(change.action != "unchanged" for change in self.changes)


@dataclass(frozen=True, slots=True)
class Plan:
    orgs: list[OrgPlan]
    prune: bool

    @property
    def summary(self) -> dict[str, int]:
        counted = Counter(change.action for org in self.orgs for change in org.changes)
        return {action: counted[action] for action in ACTIONS}

    @property
    def writes(self) -> bool:
        return any(org.writes for org in self.orgs)


def client_problem(error: ValidationFailed, path: Path) -> Problem:
    """A refusal of the domain rules about the client at ``path``, at the field it names."""
    return Problem(path + file_field(error.field), error.message)


def file_field(api_field: str | None) -> Path:
    """The path, under a client, of the field the API names ``api_field``."""
    steps = parse_dotted(api_field or "")
    return tuple(_FILE_FIELDS.get(step, step) if isinstance(step, str) else step for step in steps)
