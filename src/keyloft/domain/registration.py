"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592): the metadata
a registration carries, the rules this server adds to those every client follows, the
registration access token, and the metadata a registered client is answered with.

Keyloft registers machine-to-machine clients only, so beyond the rules of any client:

- ``grant_types`` is absent or exactly ``["client_credentials"]``, and is answered as that;
- ``response_types`` and ``redirect_uris`` are absent or empty: no flow here redirects
  (``invalid_redirect_uri`` for a redirection URI, RFC 7591 §3.2.2);
- ``jwks`` and ``jwks_uri`` are not both sent (RFC 7591 §2);
- ``scope`` is required: space-separated ``<Entity>:<read|write|readwrite>`` items, each entity
  of the org once;
- an update (RFC 7592 §2.2) names the client's own ``client_id`` and sends none of the fields
  the server issues.

Metadata not understood here is ignored and never answered (RFC 7591 §2).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyloft.domain.certificate_names import KIND_OF_FIELD, NameKind
from keyloft.domain.client_keys import jwks_document
from keyloft.domain.clients import (
    CLIENT_SECRET,
    PRIVATE_KEY_JWT,
    SELF_SIGNED_TLS,
    TLS_CLIENT_AUTH,
    Client,
    ScopeInput,
)
from keyloft.domain.errors import StateForbids, ValidationFailed
from keyloft.domain.oauth import InvalidScope, OAuthError, parse_scope, scope_string
from keyloft.domain.scopes import ScopeEntity

CLIENT_CREDENTIALS = "client_credentials"
SECRET_POST = "client_secret_post"  # noqa: S105 (a method name, not a secret)
AUTH_METHODS = (CLIENT_SECRET, SECRET_POST, PRIVATE_KEY_JWT, TLS_CLIENT_AUTH, SELF_SIGNED_TLS)
"""The ``token_endpoint_auth_method`` values a registration may ask for; both secret methods
make a client with a secret, which may authenticate either way."""

ISSUED_FIELDS = (
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
)
"""What the server issues and an update must not send (RFC 7592 §2.2)."""

TLS_NAME_PREFIX = "tls_client_auth_"
"""RFC 8705 §2.1.2's name metadata: ``tls_client_auth_`` and the kind (``subject_dn``…)."""

_TOKEN_BYTES = 32


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2: a metadata value is invalid; the description names the field."""

    error = "invalid_client_metadata"
    code = 6101


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a redirection URI this server does not accept (it takes none)."""

    error = "invalid_redirect_uri"
    code = 6102


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """A registration or update request's metadata once its JSON types are known; None for a
    field it did not send. ``tls_names`` holds the RFC 8705 name fields sent with a value, by
    kind; ``issued_fields`` names the server-issued fields it sent."""

    client_name: str | None = None
    token_endpoint_auth_method: str | None = None
    grant_types: Sequence[str] | None = None
    response_types: Sequence[str] | None = None
    redirect_uris: Sequence[str] | None = None
    scope: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    tls_names: Mapping[NameKind, str] = field(default_factory=dict)
    dpop_bound_access_tokens: bool | None = None
    tls_client_certificate_bound_access_tokens: bool | None = None
    description: str | None = None
    """``keyloft_description``."""
    token_lifetime: int | None = None
    """``keyloft_token_lifetime``: seconds."""
    default_till_id: int | None = None
    """``keyloft_default_till_id``."""
    scope_resources: Mapping[str, Sequence[str]] | None = None
    """``keyloft_scope_resources``: resource patterns by entity name."""
    client_id: str | None = None
    client_secret: str | None = None
    issued_fields: Sequence[str] = ()

    @property
    def auth_method(self) -> str:
        """The method asked for; RFC 7591 §2's default when none is."""
        return self.token_endpoint_auth_method or CLIENT_SECRET


@dataclass(frozen=True, slots=True)
class Registration:
    """A client registered at the registration endpoint: the hash of its registration access
    token (never the token), and the authentication method as registered."""

    client_id: int
    token_hash: str
    auth_method: str
    issued_at: datetime
    rotated_at: datetime | None = None


def new_registration_token() -> str:
    """A registration access token: 256 bits from ``secrets``, URL-safe."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def client_auth_method(registered: str) -> str:
    """The client's own method for a registered one: both secret methods are a secret."""
    return CLIENT_SECRET if registered == SECRET_POST else registered


def check_registration(metadata: ClientMetadata, *, new: bool = True) -> None:
    """The rules of this server's registrations that need nothing but the request; ``new``
    for a registration, whose private_key_jwt client has no other keys to fall back on."""
    grants = metadata.grant_types
    if grants is not None and list(grants) != [CLIENT_CREDENTIALS]:
        raise InvalidClientMetadata(
            'grant_types must be ["client_credentials"]: this server registers clients of '
            "the client credentials grant only.",
            field="grant_types",
        )
    if metadata.response_types:
        raise InvalidClientMetadata(
            "response_types must be empty: a client credentials client uses no response type.",
            field="response_types",
        )
    if metadata.redirect_uris:
        raise InvalidRedirectUri(
            "redirect_uris must be empty: a client credentials client is never redirected.",
            field="redirect_uris",
        )
    if metadata.client_name is None:
        raise InvalidClientMetadata("client_name is required.", field="client_name")
    if metadata.jwks is not None and metadata.jwks_uri is not None:
        raise InvalidClientMetadata(
            "jwks and jwks_uri must not both be present (RFC 7591 §2).", field="jwks_uri"
        )
    no_keys = metadata.jwks is None and metadata.jwks_uri is None
    if new and metadata.auth_method == PRIVATE_KEY_JWT and no_keys:
        raise InvalidClientMetadata(
            "A private_key_jwt client needs jwks or jwks_uri.", field="token_endpoint_auth_method"
        )
    if len(metadata.tls_names) > 1:
        sent = ", ".join(TLS_NAME_PREFIX + kind.value for kind in metadata.tls_names)
        raise InvalidClientMetadata(
            f"Send exactly one of the tls_client_auth_* names; got {sent}.",
            field=TLS_NAME_PREFIX + next(iter(metadata.tls_names)).value,
        )


def check_update(metadata: ClientMetadata, client_key: str) -> None:
    """RFC 7592 §2.2: the client names itself and sends none of the fields the server issues."""
    if metadata.issued_fields:
        name = metadata.issued_fields[0]
        raise InvalidClientMetadata(
            f"{name} must not be sent in an update: the server issues it.", field=name
        )
    if metadata.client_id is None:
        raise InvalidClientMetadata("client_id is required in an update.", field="client_id")
    if not secrets.compare_digest(metadata.client_id.encode(), client_key.encode()):
        raise InvalidClientMetadata(
            "client_id does not match the client of this registration.", field="client_id"
        )


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """The client's scopes as asked for, and the entity named by each, in the same order."""

    scopes: list[ScopeInput]
    entity_names: list[str]


def scope_request(metadata: ClientMetadata, entities: Sequence[ScopeEntity]) -> ScopeRequest:
    """``scope`` and ``keyloft_scope_resources`` as the org's scope entities (by name, any
    case), each with its resource patterns (none: the whole entity)."""
    if metadata.scope is None:
        raise InvalidClientMetadata(
            "scope is required: space-separated <Entity>:<read|write|readwrite> items.",
            field="scope",
        )
    try:
        items = parse_scope(metadata.scope)
    except InvalidScope as exc:
        raise InvalidClientMetadata(exc.message, field="scope") from None
    by_name = {entity.name.lower(): entity for entity in entities}
    resources = {
        name.lower(): (name, list(patterns))
        for name, patterns in (metadata.scope_resources or {}).items()
    }
    scopes: list[ScopeInput] = []
    names: list[str] = []
    for name, permission in items:
        entity = by_name.get(name.lower())
        if entity is None:
            known = ", ".join(e.name for e in sorted(entities, key=lambda e: e.id))
            raise InvalidClientMetadata(
                f"scope names {name}, which is not a scope entity of this org; its entities "
                f"are {known}.",
                field="scope",
            )
        if entity.name in names:
            raise InvalidClientMetadata(
                f"scope names {entity.name} more than once; use {entity.name}:readwrite for both.",
                field="scope",
            )
        _, patterns = resources.pop(entity.name.lower(), (entity.name, []))
        scopes.append(ScopeInput(entity.id, permission.value, patterns))
        names.append(entity.name)
    if resources:
        extra = next(iter(resources.values()))[0]
        raise InvalidClientMetadata(
            f"keyloft_scope_resources names {extra}, which scope does not grant.",
            field=f"keyloft_scope_resources.{extra}",
        )
    return ScopeRequest(scopes, names)


# The management API's names of the fields a client's rules speak of, and their metadata names.
_FIELD_NAMES = {
    "name": "client_name",
    "description": "keyloft_description",
    "expirationTokenTime": "keyloft_token_lifetime",
    "defaultTillId": "keyloft_default_till_id",
    "tokenEndpointAuthMethod": "token_endpoint_auth_method",
    "jwksUri": "jwks_uri",
    "dpopBoundAccessTokens": "dpop_bound_access_tokens",
    "tlsClientCertificateBoundAccessTokens": "tls_client_certificate_bound_access_tokens",
    **{name: TLS_NAME_PREFIX + kind.value for name, kind in KIND_OF_FIELD.items()},
}
_NAMES = re.compile(r"\b(" + "|".join(map(re.escape, _FIELD_NAMES)) + r")\b")
_SCOPE_PATH = re.compile(r"\bscopes\[(\d+)\](?:\.resources)?")


def metadata_problem(
    exc: ValidationFailed | StateForbids, scopes: ScopeRequest
) -> InvalidClientMetadata:
    """A client rule's refusal (``ValidationFailed``, in the management API's field names) as
    RFC 7591's ``invalid_client_metadata``, naming the metadata field."""

    def renamed(text: str) -> str:
        text = _SCOPE_PATH.sub(
            lambda m: "keyloft_scope_resources." + scopes.entity_names[int(m.group(1))], text
        )
        return _NAMES.sub(lambda m: _FIELD_NAMES[m.group(1)], text)

    where = renamed(exc.field) if exc.field else None
    message = renamed(exc.message)
    if where is not None and where.split(".")[0].split("[")[0] not in message:
        message = f"{where}: {message}"
    return InvalidClientMetadata(message, field=where)


def answered_method(client: Client, registered: str) -> str:
    """The method a client is answered with: as registered while it still holds (a secret
    client registered with client_secret_post), else the client's own."""
    if registered == SECRET_POST and client.auth_method == CLIENT_SECRET:
        return SECRET_POST
    return client.auth_method


def client_metadata(
    client: Client, entities: Sequence[ScopeEntity], auth_method: str
) -> dict[str, Any]:
    """The metadata registered for ``client`` (RFC 7591 §3.2.1), as it stands now."""
    held = client.credentials
    metadata: dict[str, Any] = {
        "client_name": client.name,
        "token_endpoint_auth_method": auth_method,
        "grant_types": [CLIENT_CREDENTIALS],
        "response_types": [],
        "scope": scope_string(client.grants, entities),
    }
    if held.jwks:
        metadata["jwks"] = jwks_document(held.jwks)
    if held.jwks_uri is not None:
        metadata["jwks_uri"] = held.jwks_uri
    if held.tls_name is not None:
        metadata[TLS_NAME_PREFIX + held.tls_name.kind.value] = held.tls_name.value
    names = {entity.id: entity.name for entity in entities}
    resources = {
        names[grant.entity_id]: list(grant.resources)
        for grant in client.grants
        if grant.resources and grant.entity_id in names
    }
    metadata.update(
        {
            "dpop_bound_access_tokens": client.dpop_bound,
            "tls_client_certificate_bound_access_tokens": client.certificate_bound,
            "keyloft_description": client.description,
            "keyloft_token_lifetime": client.expiration_token_time,
            "keyloft_default_till_id": client.default_till_id,
        }
    )
    if resources:
        metadata["keyloft_scope_resources"] = resources
    return metadata
