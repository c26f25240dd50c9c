"""Domain objects rendered in the v3 wire format, key order as in the contract's samples.

Client lists are rendered client by client into JSON and the pieces remembered per process,
keyed by what identifies a client's state — its id, version and time of last update (every
change through the store moves both), its last use — and the org's zone: an unchanged client
is rendered once, not on every list call, and any change makes a new key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from keyloft.domain.actors import Principal
from keyloft.domain.certificate_names import name_fields
from keyloft.domain.client_keys import jwks_document
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import ScopeEntity
from keyloft.domain.timefmt import format_v3
from keyloft.web.envelope import dump


def actor_view(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.id,
        "code": principal.code,
        "description": principal.description,
        "name": principal.name,
        "type": principal.kind.value,
    }


def operator_view(name: str) -> dict[str, Any]:
    """An operator who made a change from the command line, shaped like a principal."""
    return {"id": None, "code": name, "description": "", "name": name, "type": "OPERATOR"}


def client_view(
    client: Client,
    org: Org,
    *,
    scopes: bool,
    secret: str | None = None,
    uses: Mapping[str, datetime] | None = None,
) -> dict[str, Any]:
    """A client as the v3 API shows it; ``scopes`` for one client's own answer, which also
    shows its keys and federated credentials with ``uses`` (credential -> last use)."""
    view: dict[str, Any] = {
        "id": client.id,
        "attribution": {
            "createdOn": format_v3(client.created_on, org.timezone),
            "lastUpdatedOn": format_v3(client.last_updated_on, org.timezone),
            "lastUpdatedBy": actor_view(client.last_updated_by),
            "createdBy": actor_view(client.created_by),
        },
        "name": client.name,
        "clientKey": client.client_key,
    }
    if secret is not None:
        view["clientSecret"] = secret
    view.update(
        {
            "isValid": client.is_valid,
            "description": client.description,
            "expirationTokenTime": client.expiration_token_time,
            "defaultTillId": client.default_till_id,
        }
    )
    if scopes:
        view["scopes"] = [
            {
                "permission": grant.permission.value,
                "entityId": grant.entity_id,
                "resources": list(grant.resources),
            }
            for grant in client.grants
        ]
    # Keyloft's additions come after the contract's fields.
    used = client.last_used_on
    view["lastUsedOn"] = format_v3(used, org.timezone) if used is not None else None
    view["tokenEndpointAuthMethod"] = client.auth_method
    view["dpopBoundAccessTokens"] = client.dpop_bound
    view["tlsClientCertificateBoundAccessTokens"] = client.certificate_bound
    view.update(governance_view(client, org))
    if scopes:
        view.update(credentials_view(client, org, uses or {}))
    return view


def governance_view(client: Client, org: Org) -> dict[str, Any]:
    """A client's allow-list, mint limit, when it last went beyond that limit, and when its
    secret expires."""
    governance, hit, expires = client.governance, client.mint_limit_hit_on, client.secret_expires_at
    return {
        "ipAllowlist": governance.allowlist_strings,
        "tokenRateLimit": {"perMinute": governance.tokens_per_minute}
        if governance.tokens_per_minute is not None
        else None,
        "mintLimitHitOn": format_v3(hit, org.timezone) if hit is not None else None,
        "clientSecretExpiresAt": format_v3(expires, org.timezone) if expires is not None else None,
    }


def credentials_view(client: Client, org: Org, uses: Mapping[str, datetime]) -> dict[str, Any]:
    """A client's keys, key set URL and federated credentials, each with its last use."""

    def when(credential: str) -> str | None:
        at = uses.get(credential)
        return format_v3(at, org.timezone) if at is not None else None

    held = client.credentials
    return {
        "jwks": jwks_document(held.jwks) if held.jwks else None,
        "jwksUri": held.jwks_uri,
        "federatedCredentials": [
            rule.as_dict() | {"lastUsedOn": when(f"federated:{rule.name}")}
            for rule in held.federated
        ],
        **name_fields(held.tls_name),
        "keys": [
            {
                "kid": key.kid,
                "kty": key.kty,
                "alg": key.alg,
                "crv": key.crv,
                "thumbprint": key.thumbprint,
                "lastUsedOn": when(f"key:{key.thumbprint}"),
            }
            for key in held.jwks
        ],
        "lastUsedCredential": last_used_credential(client, org, uses),
    }


def last_used_credential(
    client: Client, org: Org, uses: Mapping[str, datetime]
) -> dict[str, Any] | None:
    """Which credential minted the client's latest token: one of its keys (by thumbprint), a
    federated credential (by name), or its secret (the uses of a secret are the client's)."""
    latest = max(uses.items(), key=lambda item: item[1], default=None)
    secret_use = client.last_used_on
    if latest is None or (secret_use is not None and secret_use > latest[1]):
        if secret_use is None:
            return None
        return {"type": "secret", "id": None, "at": format_v3(secret_use, org.timezone)}
    kind, _, name = latest[0].partition(":")
    return {"type": kind, "id": name, "at": format_v3(latest[1], org.timezone)}


class RenderedClients:
    def __init__(self, max_entries: int = 20_000) -> None:
        self._max = max_entries
        self._json: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def json_list(self, clients: Iterable[Client], org: Org, *, scopes: bool) -> bytes:
        """The JSON array of ``client_view`` of each client, byte for byte."""
        return b"[" + b",".join(self.json_one(c, org, scopes=scopes) for c in clients) + b"]"

    def json_one(
        self,
        client: Client,
        org: Org,
        *,
        scopes: bool,
        uses: Mapping[str, datetime] | None = None,
    ) -> bytes:
        """``client_view`` of the client (without its secret) as JSON, byte for byte."""
        # Hashing these few fields, not the whole client, is what makes the memo pay.
        key = (
            client.id,
            client.version,
            client.last_updated_on,
            client.last_used_on,
            org.timezone,
            scopes,
            tuple(sorted(uses.items())) if uses else None,
        )
        memo = self._json
        piece = memo.get(key)
        if piece is None:
            piece = memo[key] = dump(client_view(client, org, scopes=scopes, uses=uses))
            if len(memo) > self._max:
                memo.popitem(last=False)
        return piece


rendered_clients = RenderedClients()


def scope_entity_view(entity: ScopeEntity) -> dict[str, Any]:
    return {"id": entity.id, "entity": entity.name}
