"""Audit events: who changed what, when, from where — a before/after diff, never a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyloft.domain.actors import Principal
from keyloft.domain.certificate_names import name_fields
from keyloft.domain.clients import Client


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a change came from: the request id and the caller's address."""

    request_id: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One change. ``org_id`` is None for deployment-wide changes (signing keys, the server
    secret); ``actor`` is None when an operator made it, and ``operator`` names who."""

    org_id: int | None
    at: datetime
    actor: Principal | None
    action: str
    target_type: str
    target: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    context: RequestContext = field(default_factory=RequestContext)
    operator: str | None = None
    id: int = 0

    def __post_init__(self) -> None:
        if (self.actor is None) == (self.operator is None):
            raise ValueError("an audit event names either a principal or an operator")


@dataclass(frozen=True, slots=True)
class Operator:
    """Who ran an operator command (``user@host``) and that invocation's id."""

    name: str
    context: RequestContext = field(default_factory=RequestContext)

    def event(
        self,
        *,
        org_id: int | None,
        at: datetime,
        action: str,
        target_type: str,
        target: str,
        changes: dict[str, list[Any]],
    ) -> AuditEvent:
        return AuditEvent(
            org_id=org_id,
            at=at,
            actor=None,
            operator=self.name,
            action=action,
            target_type=target_type,
            target=target,
            changes=changes,
            context=self.context,
        )


def created(fields: dict[str, Any]) -> dict[str, list[Any]]:
    """The diff of something that did not exist before."""
    return diff(None, fields)


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
        "tokenEndpointAuthMethod": client.auth_method,
        "dpopBoundAccessTokens": client.dpop_bound,
        "tlsClientCertificateBoundAccessTokens": client.certificate_bound,
        # Keys by thumbprint: the audit trail names a key, it need not hold it. None for none,
        # so that a client without them shows no such field in its history.
        "jwks": [key.thumbprint for key in client.credentials.jwks] or None,
        "jwksUri": client.credentials.jwks_uri,
        "federatedCredentials": [rule.as_dict() for rule in client.credentials.federated] or None,
        # A tls_client_auth client's certificate name, in its one field (the others None).
        **name_fields(client.credentials.tls_name),
        # Governance (docs/governance.md): None for none, like the credentials above.
        "ipAllowlist": client.governance.allowlist_strings or None,
        "tokenRateLimit": {"perMinute": client.governance.tokens_per_minute}
        if client.governance.tokens_per_minute is not None
        else None,
        "clientSecretExpiresAt": client.secret_expires_at.isoformat()
        if client.secret_expires_at is not None
        else None,
    }


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for every field that differs (None for absent)."""
    before, after = before or {}, after or {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
