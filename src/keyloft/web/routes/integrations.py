"""The v3 Integrations API: scopes and API clients of the caller's org."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from keyloft.domain.clients import ScopeInput, etag
from keyloft.services.clients import DEFAULT_PAGE, ClientRequest
from keyloft.web import envelope
from keyloft.web.deps import ActorDep, ClientServiceDep, client_service_of, current_actor
from keyloft.web.json_route import JsonRoute
from keyloft.web.query import openapi_parameters, read_query
from keyloft.web.schemas import (
    ClientCreate,
    ClientCreatedEnvelope,
    ClientDetailEnvelope,
    ClientListEnvelope,
    ClientListQuery,
    ClientSummaryEnvelope,
    ClientUpdate,
    ErrorEnvelope,
    ScopeIn,
    ScopesEnvelope,
    SecretRotation,
)
from keyloft.web.views import client_view, rendered_clients, scope_entity_view

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope} for status in (400, 401, 403, 404, 409, 412, 413, 415)
}

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
    )


def _scope(scope: ScopeIn) -> ScopeInput:
    return ScopeInput(scope.entityId, scope.permission, list(scope.resources))


@router.get("/scopes", responses={200: {"model": ScopesEnvelope}, **ERRORS})
async def list_scopes(actor: ActorDep, clients: ClientServiceDep) -> Response:
    """Scope entities of the caller's org, to choose from when creating a client."""
    entities = await clients.scopes(actor)
    return envelope.ok([scope_entity_view(entity) for entity in entities])


@router.post("/clients", responses={200: {"model": ClientCreatedEnvelope}, **ERRORS})
async def create_client(body: ClientCreate, actor: ActorDep, clients: ClientServiceDep) -> Response:
    """Create an API client. The response is the only place the secret ever appears."""
    client, secret = await clients.create(actor, _request(body))
    org = await clients.org(actor)
    return envelope.ok(
        client_view(client, org, scopes=True, secret=secret),
        headers={"ETag": etag(client), "Cache-Control": "no-store"},
    )


@router.get(
    "/clients",
    responses={200: {"model": ClientListEnvelope}, **ERRORS},
    openapi_extra=openapi_parameters(query=ClientListQuery),
)
async def list_clients(request: Request) -> Response:
    """The org's API clients in creation order, without secrets or scopes. With ``limit`` or
    ``cursor`` the answer is one page, and ``page.nextCursor`` (also a ``Link: rel="next"``
    header) fetches the next one; without them it is the whole list, as it always was."""
    actor = await current_actor(request)
    query = read_query(request, ClientListQuery)
    limit, cursor = query.limit, query.cursor
    async with client_service_of(request) as clients:
        found = await clients.page(
            actor, include_invalid=query.includeInvalid, name=query.name, cursor=cursor, limit=limit
        )
        org = await clients.org(actor)  # after the page, which may have brought it to the cache
    data = rendered_clients.json_list(found.clients, org, scopes=False)
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
    responses={200: {"model": ClientDetailEnvelope}, **ERRORS},
    openapi_extra=openapi_parameters(path=("clientKey",)),
)
async def get_client(request: Request) -> Response:
    """One client with its scopes; deleted clients stay readable."""
    actor = await current_actor(request)
    async with client_service_of(request) as clients:
        client, org = await clients.read(actor, request.path_params["clientKey"])
    data = rendered_clients.json_one(client, org, scopes=True)
    return envelope.ok_json(data, headers={"ETag": etag(client)})


@router.put("/clients/{clientKey}", responses={200: {"model": ClientDetailEnvelope}, **ERRORS})
async def update_client(
    clientKey: str,
    body: ClientUpdate,
    actor: ActorDep,
    clients: ClientServiceDep,
    if_match: IfMatch = None,
) -> Response:
    """Change a client: name and description are kept when absent; scopes are replaced."""
    client = await clients.update(actor, clientKey, _request(body), if_match=if_match)
    org = await clients.org(actor)
    return envelope.ok(client_view(client, org, scopes=True), headers={"ETag": etag(client)})


@router.delete("/clients/{clientKey}", responses={200: {"model": ClientSummaryEnvelope}, **ERRORS})
async def delete_client(
    clientKey: str,
    actor: ActorDep,
    clients: ClientServiceDep,
    if_match: IfMatch = None,
) -> Response:
    """Soft delete: the client stays readable, stops minting, and its tokens stop working."""
    client = await clients.delete(actor, clientKey, if_match=if_match)
    org = await clients.org(actor)
    return envelope.ok(client_view(client, org, scopes=False), headers={"ETag": etag(client)})


@router.post(
    "/clients/{clientKey}/secret", responses={200: {"model": ClientCreatedEnvelope}, **ERRORS}
)
async def rotate_secret(
    clientKey: str,
    body: SecretRotation,
    actor: ActorDep,
    clients: ClientServiceDep,
    if_match: IfMatch = None,
) -> Response:
    """Give the client a new secret, shown only in this response. The replaced secret keeps
    working for ``graceSeconds``; at most two secrets are live at once."""
    client, secret = await clients.rotate_secret(
        actor, clientKey, grace_seconds=body.graceSeconds, if_match=if_match
    )
    org = await clients.org(actor)
    return envelope.ok(
        client_view(client, org, scopes=True, secret=secret),
        headers={"ETag": etag(client), "Cache-Control": "no-store"},
    )


@router.delete(
    "/clients/{clientKey}/secret/previous",
    responses={200: {"model": ClientDetailEnvelope}, **ERRORS},
)
async def end_secret_grace(
    clientKey: str,
    actor: ActorDep,
    clients: ClientServiceDep,
    if_match: IfMatch = None,
) -> Response:
    """Stop accepting the secret the last rotation replaced, before its grace period ends."""
    client = await clients.end_grace(actor, clientKey, if_match=if_match)
    org = await clients.org(actor)
    return envelope.ok(client_view(client, org, scopes=True), headers={"ETag": etag(client)})
