"""What a create or update of a client asks for, and its check against the org: name,
description, token lifetime within the org's cap, a default Till of the org, scopes of the
org's entities, and — for a caller with a token — nothing beyond the caller's own grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from keyloft.domain.actors import Actor, PrincipalKind
from keyloft.domain.certificate_names import NAME_FIELDS, CertificateName, check_certificate_name
from keyloft.domain.client_keys import check_jwks
from keyloft.domain.clients import (
    AUTH_METHODS,
    CLIENT_SECRET,
    NO_CREDENTIALS,
    PRIVATE_KEY_JWT,
    SELF_SIGNED_TLS,
    TLS_CLIENT_AUTH,
    Client,
    ClientCredentials,
    ScopeInput,
    check_description,
    check_grants,
    check_name,
    check_ttl,
)
from keyloft.domain.errors import AccessDenied, StateForbids, ValidationFailed
from keyloft.domain.federation import check_rules, check_url
from keyloft.domain.governance import (
    NO_GOVERNANCE,
    Governance,
    check_allowlist,
    check_rate_limit,
)
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import Grant, grants_cover
from keyloft.services.ports import Store

# Ids are stored as signed 64-bit integers; a larger number names nothing and must not reach
# the database driver, which would fail on it.
MAX_ID = 2**63 - 1


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final[Any] = _Keep()
"""A credential field the request leaves as it is (absent from an update; none on create)."""


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    """What a create or update asks of a client's credentials, as sent: ``KEEP`` leaves a
    field as it is, ``None`` clears it."""

    auth_method: str | None = None
    jwks: Any = KEEP
    jwks_uri: Any = KEEP
    federated: Any = KEEP
    tls_names: Any = KEEP
    """The certificate name fields sent (``tlsClientAuthSubjectDn``…: value or None), which
    replace the client's name; ``KEEP`` when none was sent."""

    @property
    def empty(self) -> bool:
        return self.auth_method is None and all(
            value is KEEP for value in (self.jwks, self.jwks_uri, self.federated, self.tls_names)
        )


@dataclass(frozen=True, slots=True)
class CheckedCredentials:
    auth_method: str
    credentials: ClientCredentials


def check_credentials(
    request: CredentialRequest,
    current: Client | None,
    *,
    allow_http: bool,
    client_ca: bool = False,
) -> CheckedCredentials:
    """The method and credentials a client will have: the request's, else the current ones.
    A private_key_jwt client needs a way to prove itself: keys, a key set URL, or a rule; a
    tls_client_auth client exactly one certificate name, and a deployment that trusts a CA
    (``client_ca``) to become one."""
    held = current.credentials if current is not None else NO_CREDENTIALS
    method = request.auth_method or (current.auth_method if current else CLIENT_SECRET)
    if method not in AUTH_METHODS:
        raise ValidationFailed(
            f"tokenEndpointAuthMethod must be one of {', '.join(AUTH_METHODS)}.",
            field="tokenEndpointAuthMethod",
        )
    becomes_tls = method == TLS_CLIENT_AUTH and (
        current is None or current.auth_method != TLS_CLIENT_AUTH
    )
    if becomes_tls and not client_ca:
        raise StateForbids(
            "This deployment trusts no CA for client certificates (KEYLOFT_CLIENT_CA_CERTS is "
            "not set), so no client can use tls_client_auth.",
            field="tokenEndpointAuthMethod",
        )
    tls_name = _tls_name(
        request.tls_names,
        held.tls_name,
        method,
        method_sent=current is None or request.auth_method is not None,
        names_sent=current is None,
    )
    jwks = held.jwks
    if request.jwks is not KEEP:
        jwks = check_jwks(request.jwks) if request.jwks is not None else ()
    jwks_uri = held.jwks_uri
    if request.jwks_uri is not KEEP:
        jwks_uri = (
            check_url(request.jwks_uri, "jwksUri", allow_http=allow_http)
            if request.jwks_uri is not None
            else None
        )
    federated = held.federated
    if request.federated is not KEEP:
        federated = (
            check_rules(request.federated, "federatedCredentials", allow_http=allow_http)
            if request.federated is not None
            else ()
        )
    credentials = ClientCredentials(jwks, jwks_uri, federated, tls_name)
    # A rule the request breaks by itself is 400; one it breaks only with what the client
    # keeps (fields not sent on update) is the stored state's refusal, 409.
    sent = (request.jwks, request.jwks_uri, request.federated)
    if method == PRIVATE_KEY_JWT and not credentials:
        raise (ValidationFailed if current is None or KEEP not in sent else StateForbids)(
            "A private_key_jwt client needs jwks, jwksUri or federatedCredentials.",
            field="tokenEndpointAuthMethod",
        )
    if method == SELF_SIGNED_TLS and not credentials.jwks:
        raise (ValidationFailed if current is None or request.jwks is not KEEP else StateForbids)(
            "A self_signed_tls_client_auth client needs its certificate in jwks (a key with "
            "x5c or x5t#S256, or the certificate's public key).",
            field="tokenEndpointAuthMethod",
        )
    return CheckedCredentials(method, credentials)


def _tls_name(
    sent: Any, held: CertificateName | None, method: str, *, method_sent: bool, names_sent: bool
) -> CertificateName | None:
    """The certificate name the client will have: the one field sent (with a value), else the
    one it holds. Only a tls_client_auth client has one (RFC 8705 §2.1.2: exactly one)."""
    given: dict[str, Any] = {} if sent is KEEP else dict(sent)
    named = [(name, given[name]) for name in NAME_FIELDS if given.get(name) is not None]
    if method != TLS_CLIENT_AUTH:
        if named:
            raise (ValidationFailed if method_sent else StateForbids)(
                f"{named[0][0]} is only for a tls_client_auth client.", field=named[0][0]
            )
        return None
    if len(named) > 1:
        raise ValidationFailed(
            "A tls_client_auth client names its certificate in exactly one of "
            f"{', '.join(NAME_FIELDS)}; {named[0][0]} and {named[1][0]} were both given.",
            field=named[1][0],
        )
    name = check_certificate_name(*named[0]) if named else (None if given else held)
    if name is None:
        raise (ValidationFailed if given or names_sent else StateForbids)(
            "A tls_client_auth client needs the name its certificate carries: exactly one of "
            f"{', '.join(NAME_FIELDS)}.",
            field="tokenEndpointAuthMethod",
        )
    return name


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """What a create or update call asked for, before validation against the org."""

    expiration_token_time: int
    default_till_id: int
    scopes: list[ScopeInput] = field(default_factory=list)
    name: str | None = None
    description: str | None = None
    credentials: CredentialRequest = field(default_factory=CredentialRequest)
    dpop_bound: bool | None = None
    """Whether its tokens must be DPoP-bound (None: as it is; on create, not)."""
    certificate_bound: bool | None = None
    """Whether its tokens are bound to its TLS certificate (None: as it is; on create, not)."""
    ip_allowlist: Any = KEEP
    """``ipAllowlist`` as sent (``KEEP``: as it is; on create, none)."""
    token_rate_limit: Any = KEEP
    """``tokenRateLimit`` as sent (``KEEP``: as it is; None: no limit)."""
    secret_lifetime: int | None = None
    """``secretLifetimeSeconds`` of a secret the request issues (0: never expires; None: the
    org's default)."""


def check_governance(request: ClientRequest, current: Client | None) -> Governance:
    """The client's governance after the request: the fields sent, checked; the others kept."""
    held = current.governance if current is not None else NO_GOVERNANCE
    allowlist = held.ip_allowlist
    if request.ip_allowlist is not KEEP:
        allowlist = check_allowlist(request.ip_allowlist) if request.ip_allowlist else ()
    per_minute = held.tokens_per_minute
    if request.token_rate_limit is not KEEP:
        per_minute = check_rate_limit(request.token_rate_limit)
    return Governance(allowlist, per_minute)


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
        raise StateForbids(
            f"defaultTillId {request.default_till_id} is not a Till of this org.",
            field="defaultTillId",
        )
    if actor.grants is not None:
        beyond = grants_cover(actor.grants, grants)
        if beyond is not None:
            raise AccessDenied(field=f"scopes (entityId {beyond.entity_id})")
    return CheckedRequest(name, description, ttl, till.id, grants)
