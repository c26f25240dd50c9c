"""Organisations: the tenant boundary. Every client, Till and admin belongs to exactly one."""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    timezone: str
    max_clients: int
    max_token_ttl: int


def check_org_limits(max_clients: int, max_token_ttl: int, ttl_ceiling: int) -> None:
    if not 1 <= max_clients <= 100_000:
        raise ValidationFailed("max clients must be between 1 and 100000.", field="maxClients")
    if not 1 <= max_token_ttl <= ttl_ceiling:
        raise ValidationFailed(
            f"max token TTL must be between 1 and {ttl_ceiling} seconds.", field="maxTokenTtl"
        )
