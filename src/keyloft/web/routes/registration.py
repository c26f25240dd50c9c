"""Dynamic client registration (RFC 7591) at ``/oauth2/register``, and each registered
client's configuration endpoint (RFC 7592) at ``/oauth2/register/{client_id}``."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.errors import AccessDenied, InvalidToken
from keyloft.domain.oauth import InvalidRequest
from keyloft.domain.registration import InvalidClientMetadata, client_metadata
from keyloft.services.callers import TokenCall
from keyloft.services.registration import REFUSED, RegisteredClient
from keyloft.web.caller import NO_STORE, credentials, request_context
from keyloft.web.lane.body import is_json, openapi_body
from keyloft.web.openapi import answers
from keyloft.web.registration_errors import RegistrationRoute
from keyloft.web.registration_schemas import (
    ClientInformation,
    ClientRegistrationRequest,
    ClientUpdateRequest,
    RegistrationError,
)
from keyloft.web.wiring import runtime_of, services_of

PATH = "/oauth2/register"
CLIENTS_API = "/v3/integrations/clients"
M = TypeVar("M", bound=BaseModel)

router = APIRouter(tags=["registration"], route_class=RegistrationRoute)
WHY = {
    400: "invalid_client_metadata (a metadata value, including a Till, scope entity or "
    "lifetime the org does not have: RFC 7591 §3.2.2), or invalid_request.",
    401: "invalid_token: missing or wrong credentials, or registration access token.",
    403: "insufficient_scope: a token without write on the clients' entity, or asking more "
    "than it holds.",
    409: "invalid_request: a concurrent change to the same client; try again.",
}


def _responses(success: int, *refusals: int) -> dict[int | str, dict[str, Any]]:
    """The answers of a registration operation: ``success`` with the client's information
    (nothing for 204), each refusal as RFC 7591 §3.2.2's error object (403 with its
    challenge too)."""
    return answers.respond(
        ClientInformation if success != 204 else None,
        RegistrationError,
        refusals,
        status=success,
        headers=answers.NO_STORE,
        why=WHY,
        refusal_headers={403: answers.WWW_AUTHENTICATE},
    )


async def _body(request: Request, model: type[M]) -> M:
    """The JSON body as ``model``: 415 unless declared JSON; a field of the wrong type is
    ``invalid_client_metadata`` naming it."""
    if not is_json(request.headers.get("content-type", "")):
        raise HTTPException(415)
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
        ).removeprefix(".")
        if first["type"] == "json_invalid":
            raise InvalidRequest("The body is not valid JSON.") from None
        if not where:
            raise InvalidRequest("The body must be a JSON object.") from None
        raise InvalidClientMetadata(f"{where}: {first['msg']}.", field=where) from None


def _registration_token(request: Request) -> str:
    """RFC 7592 §2: the registration access token, as a Bearer token (RFC 6750 §2.1)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken(REFUSED, reason="registration")
    return value.strip()


def _answer(request: Request, registered: RegisteredClient, status: int = 200) -> Response:
    client = registered.client
    issuer = runtime_of(request).issuer.rstrip("/")
    view: dict[str, Any] = {"client_id": client.client_key}
    if registered.secret is not None:
        view["client_secret"] = registered.secret
    view["client_id_issued_at"] = int(client.created_on.timestamp())
    if client.has_secret:
        # RFC 7591 §3.2.1: seconds since the epoch, 0 for never (docs/governance.md).
        expires = client.secret_expires_at
        view["client_secret_expires_at"] = int(expires.timestamp()) if expires else 0
    view["registration_access_token"] = registered.token
    view["registration_client_uri"] = f"{issuer}{PATH}/{client.client_key}"
    view.update(client_metadata(client, registered.entities, registered.auth_method))
    return JSONResponse(view, status_code=status, headers=NO_STORE)


@router.post(
    PATH,
    status_code=201,
    openapi_extra=openapi_body(ClientRegistrationRequest),
    responses=_responses(201, 400, 401, 403, 409, 413, 415, 429, 503),
)
async def register(request: Request) -> Response:
    """Register a client (RFC 7591 §3) in the caller's org: an admin by HTTP Basic, or an
    access token allowed to create clients through the management API (write on the scope
    entity that ``POST /v3/integrations/clients`` belongs to). The answer holds the client's
    secret (secret clients), shown only now, and its registration access token."""
    presented = credentials(request)
    if isinstance(presented, TokenCall):
        # RFC 7591 §3's initial access token is judged as the call it stands for: creating a
        # client. (A DPoP proof is still checked against this request's own method and URL.)
        presented.method, presented.raw_path = "POST", CLIENTS_API
    actor = await services_of(request).callers.authenticate(presented)
    if actor.grants is None and actor.principal.kind is not PrincipalKind.ADMIN_USER:
        raise AccessDenied(
            "Only an org's admins register clients with HTTP Basic; a Till may use an access "
            "token with write on the clients' scope entity."
        )
    body = await _body(request, ClientRegistrationRequest)
    registered = await services_of(request).registrations.register(
        actor, body.metadata(), request_context(request)
    )
    return _answer(request, registered, status=201)


@router.get(f"{PATH}/{{client_id}}", responses=_responses(200, 401, 429, 503))
async def read_registration(request: Request, client_id: str) -> Response:
    """The client's current metadata (RFC 7592 §2.1), with its registration access token."""
    registered = await services_of(request).registrations.read(
        client_id, _registration_token(request)
    )
    return _answer(request, registered)


@router.put(
    f"{PATH}/{{client_id}}",
    openapi_extra=openapi_body(ClientUpdateRequest),
    responses=_responses(200, 400, 401, 403, 409, 413, 415, 429, 503),
)
async def update_registration(request: Request, client_id: str) -> Response:
    """Replace the client's metadata (RFC 7592 §2.2): a field left out is reset to its
    default. The answer carries a new registration access token; the old one stops working."""
    token = _registration_token(request)
    body = await _body(request, ClientUpdateRequest)
    registered = await services_of(request).registrations.update(
        client_id, token, body.metadata(), request_context(request)
    )
    return _answer(request, registered)


@router.delete(
    f"{PATH}/{{client_id}}",
    status_code=204,
    responses=_responses(204, 401, 403, 409, 429, 503),
)
async def delete_registration(request: Request, client_id: str) -> Response:
    """Delete the client (RFC 7592 §2.3), softly as the management API does: it stops
    minting, its tokens stop working, and its registration access token is void."""
    await services_of(request).registrations.delete(
        client_id, _registration_token(request), request_context(request)
    )
    return Response(status_code=204, headers=NO_STORE)
