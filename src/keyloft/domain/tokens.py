"""Access-token claims — of the v3 token call and of OAuth 2.0 (RFC 9068) — and reading
grants back out of them.

Both kinds carry ``scopes``, the grants in detail, so one decision serves both. A v3 token's
``client_id`` is the numeric client id (as the original service issues it); an RFC 9068
token's ``client_id`` is the client key, and it also carries ``aud`` and a ``scope`` string.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from keyloft.domain.clients import Client
from keyloft.domain.scopes import Grant, Permission, ScopeEntity

TOKEN_USE = "token_access"  # noqa: S105 (a claim value)


def _scopes(grants: Sequence[Grant], entities: Sequence[ScopeEntity]) -> list[dict[str, Any]]:
    names = {entity.id: entity.name for entity in entities}
    return [
        {
            "entityId": grant.entity_id,
            "entity": names.get(grant.entity_id, ""),
            "permission": grant.permission.value,
            "resources": list(grant.resources),
        }
        for grant in grants
    ]


def oauth_access_claims(
    *,
    issuer: str,
    audience: str,
    client: Client,
    grants: Sequence[Grant],
    scope: str,
    entities: Sequence[ScopeEntity],
    now: datetime,
) -> dict[str, Any]:
    """RFC 9068 §2.2 claims for a client-credentials token (the client is the subject)."""
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "exp": issued + client.expiration_token_time,
        "aud": audience,
        "sub": client.client_key,
        "client_id": client.client_key,
        "iat": issued,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
        "org_id": client.org_id,
        "default_till": client.default_till_id,
        "scopes": _scopes(grants, entities),
    }


def access_claims(
    *, issuer: str, client: Client, entities: Sequence[ScopeEntity], now: datetime
) -> dict[str, Any]:
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "sub": client.client_key,
        "iat": issued,
        "exp": issued + client.expiration_token_time,
        "jti": secrets.token_urlsafe(16),
        "client_id": client.id,
        "client_key": client.client_key,
        "org_id": client.org_id,
        "default_till": client.default_till_id,
        "token_use": TOKEN_USE,
        "scopes": _scopes(client.grants, entities),
    }


def grants_from_claims(claims: dict[str, Any]) -> tuple[Grant, ...] | None:
    """The grants a token carries, or None when the claim is malformed."""
    raw = claims.get("scopes")
    if not isinstance(raw, list):
        return None
    grants: list[Grant] = []
    for item in raw:
        if not isinstance(item, dict):
            return None
        entity_id, permission, resources = (
            item.get("entityId"),
            item.get("permission"),
            item.get("resources", []),
        )
        if not isinstance(entity_id, int) or not isinstance(permission, str):
            return None
        if permission not in Permission.__members__:
            return None
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            return None
        grants.append(Grant(entity_id, Permission(permission), tuple(resources)))
    return tuple(grants)
