"""API clients: the aggregate, and the rules a new or changed client must satisfy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from keyloft.domain.actors import Principal
from keyloft.domain.certificate_names import CertificateName
from keyloft.domain.client_keys import ClientKey
from keyloft.domain.errors import StateForbids, ValidationFailed
from keyloft.domain.federation import FederatedCredential
from keyloft.domain.governance import NO_GOVERNANCE, Governance
from keyloft.domain.patterns import validate_patterns
from keyloft.domain.scopes import Grant, Permission, ScopeEntity

MAX_NAME = 100
MAX_DESCRIPTION = 500

# How a client proves itself at the token endpoints (RFC 7591 ``token_endpoint_auth_method``).
# A secret client may use Basic, the form post or the v3 body alike; a private_key_jwt client
# has no secret and signs a JWT assertion (RFC 7523) with one of its keys, or presents a token
# of an issuer one of its federated credentials trusts.
CLIENT_SECRET = "client_secret_basic"  # noqa: S105 (a method name, not a secret)
PRIVATE_KEY_JWT = "private_key_jwt"
# RFC 8705 §2.1: the client's TLS certificate, issued by a CA the deployment trusts and carrying
# the one subject DN or subjectAltName the client registered, proves it.
TLS_CLIENT_AUTH = "tls_client_auth"
# RFC 8705 §2.2: the client's TLS certificate, registered as one of its keys, proves it.
SELF_SIGNED_TLS = "self_signed_tls_client_auth"
AUTH_METHODS = (CLIENT_SECRET, PRIVATE_KEY_JWT, TLS_CLIENT_AUTH, SELF_SIGNED_TLS)


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A client's registered public keys, key set URL and federated credentials, and for a
    tls_client_auth client the name its certificate must carry (``tls_name``; None for every
    other method)."""

    jwks: tuple[ClientKey, ...] = ()
    jwks_uri: str | None = None
    federated: tuple[FederatedCredential, ...] = ()
    tls_name: CertificateName | None = None

    def __bool__(self) -> bool:
        return bool(self.jwks or self.jwks_uri or self.federated or self.tls_name)

    def rule(self, name: str) -> FederatedCredential | None:
        return next((rule for rule in self.federated if rule.name == name), None)


NO_CREDENTIALS = ClientCredentials()


@dataclass(frozen=True, slots=True)
class Client:
    id: int
    org_id: int
    client_key: str
    name: str
    description: str
    expiration_token_time: int
    default_till_id: int
    is_valid: bool
    grants: tuple[Grant, ...]
    created_on: datetime
    last_updated_on: datetime
    created_by: Principal
    last_updated_by: Principal
    version: int = 1
    last_used_on: datetime | None = None
    """When a token was last minted for it, to the minute (None: never, as far as known)."""
    auth_method: str = CLIENT_SECRET
    credentials: ClientCredentials = NO_CREDENTIALS
    dpop_bound: bool = False
    """RFC 9449 §5.2 ``dpop_bound_access_tokens``: every token request must carry a proof."""
    certificate_bound: bool = False
    """RFC 8705 §3.4 ``tls_client_certificate_bound_access_tokens``: its tokens are bound to
    the TLS certificate it requests them with."""
    governance: Governance = NO_GOVERNANCE
    """Where its token requests may come from and how many tokens it may mint a minute."""
    mint_limit_hit_on: datetime | None = None
    """When it last went beyond its mint limit, to the minute (None: never, as far as known)."""
    secret_expires_at: datetime | None = None
    """When its current secret stops working (RFC 7591 ``client_secret_expires_at``; None:
    never)."""

    @property
    def has_secret(self) -> bool:
        return self.auth_method == CLIENT_SECRET


@dataclass(frozen=True, slots=True)
class ScopeInput:
    entity_id: int
    permission: str
    resources: list[str] = field(default_factory=list)


def check_name(name: str) -> str:
    if not name.strip():
        raise ValidationFailed("name must not be blank.", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"name allows at most {MAX_NAME} characters.", field="name")
    if any(ord(ch) < 0x20 for ch in name):
        raise ValidationFailed("name contains control characters.", field="name")
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"description allows at most {MAX_DESCRIPTION} characters.", field="description"
        )
    if any(ord(ch) < 0x20 and ch not in "\t\n\r" for ch in description):
        raise ValidationFailed("description contains control characters.", field="description")
    return description


def check_ttl(ttl: int, cap: int) -> int:
    """A token lifetime: below 1 is never valid (400); beyond the org's ``cap``, the org
    does not allow it (409)."""
    if ttl < 1 or ttl > cap:
        raise (ValidationFailed if ttl < 1 else StateForbids)(
            f"expirationTokenTime must be between 1 and {cap} seconds.",
            field="expirationTokenTime",
        )
    return ttl


def check_grants(scopes: list[ScopeInput], entities: list[ScopeEntity]) -> tuple[Grant, ...]:
    known = {entity.id for entity in entities}
    grants: list[Grant] = []
    seen: set[int] = set()
    for index, scope in enumerate(scopes):
        where = f"scopes[{index}]"
        if scope.entity_id not in known:
            raise StateForbids(
                f"{where}.entityId {scope.entity_id} is not a scope entity of this org; "
                f"valid ids: {sorted(known)}.",
                field=f"{where}.entityId",
            )
        if scope.entity_id in seen:
            raise ValidationFailed(
                f"{where}.entityId {scope.entity_id} appears more than once.",
                field=f"{where}.entityId",
            )
        try:
            permission = Permission(scope.permission)
        except ValueError:
            raise ValidationFailed(
                f"{where}.permission must be one of READ, WRITE, READWRITE.",
                field=f"{where}.permission",
            ) from None
        resources = validate_patterns(scope.resources, f"{where}.resources")
        seen.add(scope.entity_id)
        grants.append(Grant(scope.entity_id, permission, resources))
    return tuple(grants)


def etag(client: Client) -> str:
    """A strong entity tag for the client's current version."""
    return f'"{client.id}-{client.version}"'


def if_match_allows(header: str | None, client: Client) -> bool:
    """RFC 9110 If-Match with strong comparison: absent or ``*`` allows, else a listed tag."""
    if header is None or header.strip() == "*":
        return True
    current = etag(client)
    return any(tag.strip() == current for tag in header.split(","))
