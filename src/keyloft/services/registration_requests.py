"""RFC 7591 client metadata as the create or update request of the management API's client
rules (``ClientRequest``), with this server's defaults for what the metadata leaves out:

- ``token_endpoint_auth_method``: ``client_secret_basic`` (RFC 7591 §2);
- ``keyloft_token_lifetime``: the org's longest token lifetime;
- ``keyloft_default_till_id``: the calling Till (a Till, or a token acting as one), else the
  org's only Till; an admin of an org with several names one;
- ``keyloft_description``: empty; the two token bindings: off.

Every field is given, so an update replaces the registration as a whole (RFC 7592 §2.2); only
federated credentials, which no registration metadata speaks of, are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyloft.domain.actors import Actor, PrincipalKind
from keyloft.domain.certificate_names import NameKind
from keyloft.domain.registration import (
    ClientMetadata,
    InvalidClientMetadata,
    ScopeRequest,
    client_auth_method,
    scope_request,
)
from keyloft.domain.scopes import ScopeEntity
from keyloft.services.client_requests import KEEP, ClientRequest, CredentialRequest
from keyloft.services.clients import ClientService


async def client_request(
    clients: ClientService,
    actor: Actor,
    metadata: ClientMetadata,
    entities: Sequence[ScopeEntity],
) -> tuple[ClientRequest, ScopeRequest]:
    """The request ``metadata`` makes of the client rules, and its scopes by entity name (to
    name the metadata field when a rule refuses a resource pattern)."""
    scopes = scope_request(metadata, entities)
    org = await clients.org(actor)
    lifetime = metadata.token_lifetime
    till_id = metadata.default_till_id
    request = ClientRequest(
        expiration_token_time=lifetime if lifetime is not None else org.max_token_ttl,
        default_till_id=till_id if till_id is not None else await _default_till(clients, actor),
        scopes=scopes.scopes,
        name=metadata.client_name,
        description=metadata.description or "",
        credentials=CredentialRequest(
            auth_method=client_auth_method(metadata.auth_method),
            jwks=metadata.jwks,
            jwks_uri=metadata.jwks_uri,
            federated=KEEP,
            tls_names={kind.field: metadata.tls_names.get(kind) for kind in NameKind},
        ),
        dpop_bound=bool(metadata.dpop_bound_access_tokens),
        certificate_bound=bool(metadata.tls_client_certificate_bound_access_tokens),
    )
    return request, scopes


async def _default_till(clients: ClientService, actor: Actor) -> int:
    if actor.principal.kind is PrincipalKind.TILL:
        return actor.principal.id
    tills = await clients.tills(actor)
    if len(tills) == 1:
        return tills[0].id
    raise InvalidClientMetadata(
        f"keyloft_default_till_id is required: the org has {len(tills)} Tills, and the client "
        "acts as the one named.",
        field="keyloft_default_till_id",
    )
