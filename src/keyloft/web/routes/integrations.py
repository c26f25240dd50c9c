"""The v3 Integrations API: scopes and API clients of the caller's org."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from keyloft.domain.certificate_names import NAME_FIELDS
from keyloft.domain.clients import Client, ScopeInput, etag
from keyloft.domain.orgs import Org
from keyloft.services.client_admin import ClientFilter
from keyloft.services.client_requests import KEEP, ClientRequest, CredentialRequest
from keyloft.services.clients import DEFAULT_PAGE
from keyloft.web import envelope
from keyloft.web.caller import ActorDep, current_actor, request_context
from keyloft.web.json_route import JsonRoute
from keyloft.web.lane import direct
from keyloft.web.lane.query import openapi_parameters, read_query
from keyloft.web.openapi import answers
from keyloft.web.schemas import (
    ClientCreate,
    ClientCreatedEnvelope,
    ClientDetailEnvelope,
    ClientListEnvelope,
    ClientListQuery,
    ClientSummaryEnvelope,
    ClientUpdate,
    ScopeIn,
    ScopesEnvelope,
    SecretRotation,
)
from keyloft.web.views import client_view, rendered_clients, scope_entity_view
from keyloft.web.wiring import ServicesDep, services_of

M, BODY, KEYED, WRITE, IF_MATCH = (
    answers.MANAGEMENT,
    answers.WITH_BODY,
    answers.KEYED,
    answers.WRITE,
    answers.CONDITIONAL,
)
# Where a client's answer leads: its key (and version) fill in the calls on it.
CLIENT_KEY = "$response.body#/data/clientKey"
VERSION = "$response.header.ETag"
ON_CLIENT = answers.links(
    {"clientKey": CLIENT_KEY},
    "getClient",
    "deleteClient",
    "endSecretGrace",
    "clientUsage",
) | answers.links(
    {"clientKey": CLIENT_KEY, "header.If-Match": VERSION}, "updateClient", "rotateSecret"
)
CLIENT_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "The client key; one the org does not have is 404.",
}
CLIENT_HEADERS = answers.ETAG
SECRET_HEADERS = answers.ETAG | answers.NO_STORE

router = APIRouter(prefix="/v3/integrations", tags=["integrations"], route_class=JsonRoute)
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the client as read; the change is refused (412) if it moved.",
    ),
]


def _request(body: ClientCreate | ClientUpdate) -> ClientRequest:
    return ClientRequest(
        name=body.name,
        description=body.description,
        expiration_token_time=body.expirationTokenTime,
        default_till_id=body.defaultTillId,
        scopes=[_scope(scope) for scope in body.scopes],
        credentials=_credentials(body),
        dpop_bound=body.dpopBoundAccessTokens,
        certificate_bound=body.tlsClientCertificateBoundAccessTokens,
        **_governance(body),
    )


def _governance(body: ClientCreate | ClientUpdate) -> dict[str, Any]:
    """What the body asks of the client's governance: a field it does not hold is kept."""
    given, limit = body.model_fields_set, body.tokenRateLimit
    return {
        "ip_allowlist": body.ipAllowlist if "ipAllowlist" in given else KEEP,
        "token_rate_limit": (limit.model_dump() if limit is not None else None)
        if "tokenRateLimit" in given
        else KEEP,
        "secret_lifetime": body.secretLifetimeSeconds,
    }


def _credentials(body: ClientCreate | ClientUpdate) -> CredentialRequest:
    """What the body asks of the credentials: a field it does not hold is kept."""
    given = body.model_fields_set
    rules = body.federatedCredentials
    return CredentialRequest(
        auth_method=body.tokenEndpointAuthMethod,
        jwks=body.jwks if "jwks" in given else KEEP,
        jwks_uri=body.jwksUri if "jwksUri" in given else KEEP,
        federated=(
            [rule.model_dump(exclude_none=True) for rule in rules] if rules is not None else None
        )
        if "federatedCredentials" in given
        else KEEP,
        tls_names={name: getattr(body, name) for name in NAME_FIELDS if name in given} or KEEP,
    )


def _scope(scope: ScopeIn) -> ScopeInput:
    return ScopeInput(scope.entityId, scope.permission, list(scope.resources))


@router.get("/scopes", responses=answers.envelope(ScopesEnvelope, *M))
async def list_scopes(actor: ActorDep, services: ServicesDep) -> Response:
    """Scope entities of the caller's org, to choose from when creating a client."""
    entities = await services.clients.scopes(actor)
    return envelope.ok([scope_entity_view(entity) for entity in entities])


@router.post(
    "/clients",
    responses=answers.envelope(
        ClientCreatedEnvelope,
        *M,
        *BODY,
        *WRITE,
        headers=SECRET_HEADERS,
        links=ON_CLIENT,
        why={409: answers.WHY[409] + " A Till, scope entity or lifetime the org lacks."},
    ),
)
async def create_client(
    request: Request, body: ClientCreate, actor: ActorDep, services: ServicesDep
) -> Response:
    """Create an API client. The response is the only place the secret ever appears."""
    made = await services.clients.create(actor, _request(body), request_context(request))
    return envelope.ok(
        client_view(made.client, made.org, scopes=True, secret=made.secret),
        headers={"ETag": etag(made.client), "Cache-Control": "no-store"},
    )


@router.get(
    "/clients",
    responses=answers.envelope(ClientListEnvelope, *M, headers=answers.LINK),
    openapi_extra=openapi_parameters(query=ClientListQuery),
)
@direct
async def list_clients(request: Request) -> Response:
    """The org's API clients in creation order, without secrets or scopes. With ``limit`` or
    ``cursor`` the answer is one page, and ``page.nextCursor`` (also a ``Link: rel="next"``
    header) fetches the next one; without them it is the whole list, as it always was."""
    actor = await current_actor(request)
    query = read_query(request, ClientListQuery)
    limit, cursor = query.limit, query.cursor
    which = ClientFilter(query.includeInvalid == "true", query.name, cursor, limit)
    listed = await services_of(request).clients.list(actor, which)
    found = listed.found
    data = rendered_clients.json_list(found.clients, listed.org, scopes=False)
    if limit is None and cursor is None:
        return envelope.ok_json(data)
    headers: dict[str, str] = {}
    if found.next_cursor is not None:
        following = request.url.include_query_params(cursor=found.next_cursor)
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return envelope.ok_json(
        data,
        headers=headers,
        extra={"page": {"nextCursor": found.next_cursor, "limit": limit or DEFAULT_PAGE}},
    )


@router.get(
    "/clients/{clientKey}",
    responses=answers.envelope(ClientDetailEnvelope, *M, *KEYED, headers=CLIENT_HEADERS),
    openapi_extra=openapi_parameters(path={"clientKey": CLIENT_KEY_SCHEMA}),
)
@direct
async def get_client(request: Request) -> Response:
    """One client with its scopes; deleted clients stay readable."""
    actor = await current_actor(request)
    found = await services_of(request).clients.read(actor, request.path_params["clientKey"])
    data = rendered_clients.json_one(found.client, found.org, scopes=True, uses=found.uses)
    return envelope.ok_json(data, headers={"ETag": etag(found.client)})


@router.put(
    "/clients/{clientKey}",
    responses=answers.envelope(
        ClientCreatedEnvelope,
        *M,
        *BODY,
        *KEYED,
        *WRITE,
        *IF_MATCH,
        headers=SECRET_HEADERS,
        links=ON_CLIENT,
        description="Done; with clientSecret only when the change issued one.",
    ),
)
async def update_client(
    request: Request,
    clientKey: str,
    body: ClientUpdate,
    actor: ActorDep,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    """Change a client: name and description are kept when absent; scopes are replaced.
    A switch to client_secret_basic answers the new secret, shown only then."""
    changed = await services.clients.update(
        actor, clientKey, _request(body), request_context(request), if_match=if_match
    )
    if changed.secret is not None:
        return envelope.ok(
            client_view(changed.client, changed.org, scopes=True, secret=changed.secret),
            headers={"ETag": etag(changed.client), "Cache-Control": "no-store"},
        )
    return envelope.ok(
        client_view(changed.client, changed.org, scopes=True, uses=changed.uses),
        headers={"ETag": etag(changed.client)},
    )


@router.delete(
    "/clients/{clientKey}",
    responses=answers.envelope(
        ClientSummaryEnvelope, *M, *KEYED, *WRITE, *IF_MATCH, headers=CLIENT_HEADERS
    ),
)
async def delete_client(
    request: Request,
    clientKey: str,
    actor: ActorDep,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    """Soft delete: the client stays readable, stops minting, and its tokens stop working."""
    deleted = await services.clients.delete(
        actor, clientKey, request_context(request), if_match=if_match
    )
    client = deleted.client
    return envelope.ok(
        client_view(client, deleted.org, scopes=False), headers={"ETag": etag(client)}
    )


@router.post(
    "/clients/{clientKey}/secret",
    responses=answers.envelope(
        ClientCreatedEnvelope,
        *M,
        *BODY,
        *KEYED,
        *WRITE,
        *IF_MATCH,
        headers=SECRET_HEADERS,
        links=ON_CLIENT,
        why={409: "The client is deleted or has no secret (a secretless method)."},
    ),
)
async def rotate_secret(
    request: Request,
    clientKey: str,
    body: SecretRotation,
    actor: ActorDep,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    """Give the client a new secret, shown only in this response. The replaced secret keeps
    working for ``graceSeconds``; at most two secrets are live at once."""
    rotated = await services.clients.rotate_secret(
        actor,
        clientKey,
        request_context(request),
        grace_seconds=body.graceSeconds,
        if_match=if_match,
        secret_lifetime=body.secretLifetimeSeconds,
    )
    return envelope.ok(
        client_view(rotated.client, rotated.org, scopes=True, secret=rotated.secret),
        headers={"ETag": etag(rotated.client), "Cache-Control": "no-store"},
    )


@router.delete(
    "/clients/{clientKey}/secret/previous",
    responses=answers.envelope(
        ClientDetailEnvelope, *M, *KEYED, *WRITE, *IF_MATCH, headers=CLIENT_HEADERS
    ),
)
async def end_secret_grace(
    request: Request,
    clientKey: str,
    actor: ActorDep,
    services: ServicesDep,
    if_match: IfMatch = None,
) -> Response:
    """Stop accepting the secret the last rotation replaced, before its grace period ends."""
    ended = await services.clients.end_grace(
        actor, clientKey, request_context(request), if_match=if_match
    )
    return _detail(ended.client, ended.org)


def _detail(client: Client, org: Org) -> Response:
    return envelope.ok(client_view(client, org, scopes=True), headers={"ETag": etag(client)})
