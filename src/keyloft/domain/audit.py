"""Audit events: who changed what, when, from where — a before/after diff, never a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyloft.domain.actors import Principal
from keyloft.domain.clients import Client


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a change came from: the request id and the caller's address."""

    request_id: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    org_id: int
    at: datetime
    actor: Principal
    action: str
    target_type: str
    target: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    context: RequestContext = field(default_factory=RequestContext)
    id: int = 0


def client_fields(client: Client) -> dict[str, Any]:
    """The auditable state of a client (its secret and hashes are deliberately absent)."""
    return {
        "name": client.name,
        "description": client.description,
        "expirationTokenTime": client.expiration_token_time,
        "defaultTillId": client.default_till_id,
        "isValid": client.is_valid,
        "scopes": [
            {
                "entityId": grant.entity_id,
                "permission": grant.permission.value,
                "resources": list(grant.resources),
            }
            for grant in client.grants
        ],
    }


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for every field that differs (None for absent)."""
    before, after = before or {}, after or {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
