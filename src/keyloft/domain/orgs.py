"""Organisations: the tenant boundary. Every client, Till and admin belongs to exactly one.

An org's limits (active clients, longest token lifetime) bound new clients and changes to
clients. Lowering a limit below what the org's active clients already use is refused
(``LimitBelowUse``), unless forced: then those clients stay as they are, new clients wait
until fewer are active, and a client above the lifetime cap must come within it when next
changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyloft.domain.errors import Conflict, ValidationFailed


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    timezone: str
    max_clients: int
    max_token_ttl: int
    secret_lifetime: int | None = None
    """Seconds a new or rotated client secret lives unless its request says (None: forever)."""


def check_org_limits(max_clients: int, max_token_ttl: int, ttl_ceiling: int) -> None:
    if not 1 <= max_clients <= 100_000:
        raise ValidationFailed("max clients must be between 1 and 100000.", field="maxClients")
    if not 1 <= max_token_ttl <= ttl_ceiling:
        raise ValidationFailed(
            f"max token TTL must be between 1 and {ttl_ceiling} seconds.", field="maxTokenTtl"
        )


class LimitBelowUse(Conflict):
    """A new limit below what the org's active clients already use."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details

    def with_hint(self, hint: str) -> LimitBelowUse:
        """The same refusal, its message followed by ``hint`` (how to go ahead anyway)."""
        return LimitBelowUse(f"{self.message} {hint}", self.details)


def check_limits_cover_use(
    org: Org, max_clients: int, max_token_ttl: int, token_lifetimes: list[int]
) -> None:
    """``LimitBelowUse`` when the org's active clients, whose token lifetimes are
    ``token_lifetimes`` (one per client), exceed a lowered limit; a limit kept or raised is
    never refused."""
    problems: list[str] = []
    details: dict[str, Any] = {}
    active = len(token_lifetimes)
    if max_clients < org.max_clients and active > max_clients:
        problems.append(
            f"{active} active API clients, more than the {max_clients} maxClients allows"
        )
        details["activeClients"] = active
    above = sorted((ttl for ttl in token_lifetimes if ttl > max_token_ttl), reverse=True)
    if max_token_ttl < org.max_token_ttl and above:
        count = len(above)
        problems.append(
            f"{count} active API client{'s' if count != 1 else ''} with a token lifetime "
            f"above the {max_token_ttl} s maxTokenTtl allows (the longest: {above[0]} s)"
        )
        details["clientsAboveMaxTokenTtl"] = count
        details["longestTokenTtl"] = above[0]
    if problems:
        raise LimitBelowUse(f"Org {org.id} has {' and '.join(problems)}.", details)
