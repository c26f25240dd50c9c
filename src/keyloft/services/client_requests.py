"""What a create or update of a client asks for, and its check against the org: name,
description, token lifetime within the org's cap, a default Till of the org, scopes of the
org's entities, and — for a caller with a token — nothing beyond the caller's own grants."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyloft.domain.actors import Actor, PrincipalKind
from keyloft.domain.clients import (
    ScopeInput,
    check_description,
    check_grants,
    check_name,
    check_ttl,
)
from keyloft.domain.errors import AccessDenied, ValidationFailed
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import Grant, grants_cover
from keyloft.services.ports import Store

# Ids are stored as signed 64-bit integers; a larger number names nothing and must not reach
# the database driver, which would fail on it.
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """What a create or update call asked for, before validation against the org."""

    expiration_token_time: int
    default_till_id: int
    scopes: list[ScopeInput] = field(default_factory=list)
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    name: str | None
    description: str | None
    ttl: int
    till_id: int
    grants: tuple[Grant, ...]


async def check_request(
    store: Store, actor: Actor, org: Org, request: ClientRequest
) -> CheckedRequest:
    name = check_name(request.name) if request.name is not None else None
    description = (
        check_description(request.description) if request.description is not None else None
    )
    ttl = check_ttl(request.expiration_token_time, org.max_token_ttl)
    entities = await store.scopes.list(org.id)
    grants = check_grants(request.scopes, entities)
    till = (
        await store.principals.get_in_org(org.id, request.default_till_id, PrincipalKind.TILL)
        if 0 < request.default_till_id <= MAX_ID
        else None
    )
    if till is None:
        raise ValidationFailed(
            f"defaultTillId {request.default_till_id} is not a Till of this org.",
            field="defaultTillId",
        )
    if actor.grants is not None:
        beyond = grants_cover(actor.grants, grants)
        if beyond is not None:
            raise AccessDenied(field=f"scopes (entityId {beyond.entity_id})")
    return CheckedRequest(name, description, ttl, till.id, grants)
