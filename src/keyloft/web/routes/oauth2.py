"""Standard OAuth 2.0 endpoints: token (client credentials), introspection, revocation, and
the authorization server metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from keyloft.domain.oauth import InvalidRequest, UnsupportedGrantType
from keyloft.web.deps import (
    RevokingOAuthServiceDep,
    RuntimeDep,
    caller_address,
    oauth_service,
    runtime_of,
    store_rehashed_secret,
    unit_of_work,
)
from keyloft.web.oauth_request import FORM, client_credentials, read_form

router = APIRouter(tags=["oauth2"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT = "client_credentials"


def _form_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                FORM: {"schema": {"type": "object", "properties": fields, "required": required}}
            },
        }
    }


_TOKEN_FORM = _form_body(
    {
        "grant_type": {"type": "string", "enum": [GRANT]},
        "scope": {"type": "string", "example": "TargetGroups:read All:readwrite"},
        "client_id": {"type": "string", "description": "client_secret_post only"},
        "client_secret": {"type": "string", "description": "client_secret_post only"},
    },
    ["grant_type"],
)
_TOKEN_PARAM_FORM = _form_body(
    {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string"},
        "client_id": {"type": "string", "description": "client_secret_post only"},
        "client_secret": {"type": "string", "description": "client_secret_post only"},
    },
    ["token"],
)


@router.post("/oauth2/token", openapi_extra=_TOKEN_FORM)
async def token(request: Request) -> Response:
    """Client credentials grant (RFC 6749 §4.4): a signed ``at+jwt`` access token (RFC 9068).

    ``scope`` (space-separated ``<Entity>:<read|write|readwrite>``) narrows the token; never
    a refresh token."""
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required.")
    if grant_type != GRANT:
        raise UnsupportedGrantType(f"Only {GRANT} is supported.")
    credentials = client_credentials(request, form)
    rt = runtime_of(request)
    address = caller_address(request, rt)
    async with unit_of_work(rt, write=False) as store:
        issued = await oauth_service(rt, store).client_credentials(
            credentials.client_id, credentials.secret, form.get("scope"), address=address
        )
    if issued.rehash is not None:
        await store_rehashed_secret(rt, issued.client_id, issued.rehash, replacing=issued.replaces)
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
        headers=NO_STORE,
    )


@router.post("/oauth2/introspect", openapi_extra=_TOKEN_PARAM_FORM)
async def introspect(request: Request) -> Response:
    """Token introspection (RFC 7662) of the calling client's own tokens."""
    form = await read_form(request)
    credentials = client_credentials(request, form)
    rt = runtime_of(request)
    address = caller_address(request, rt)
    async with unit_of_work(rt, write=False) as store:
        oauth = oauth_service(rt, store)
        caller, _ = await oauth.authenticate(
            credentials.client_id, credentials.secret, address=address
        )
        if not form.get("token"):
            raise InvalidRequest("token is required.")
        answer = await oauth.introspect(caller, form["token"])
    return JSONResponse(answer, headers=NO_STORE)


@router.post("/oauth2/revoke", openapi_extra=_TOKEN_PARAM_FORM)
async def revoke(request: Request, oauth: RevokingOAuthServiceDep) -> Response:
    """Token revocation (RFC 7009): 200 whether or not there was anything to revoke."""
    form = await read_form(request)
    credentials = client_credentials(request, form)
    address = caller_address(request, runtime_of(request))
    caller, _ = await oauth.authenticate(credentials.client_id, credentials.secret, address=address)
    if "token" not in form:
        raise InvalidRequest("token is required.")
    await oauth.revoke(caller, form["token"])
    return Response(status_code=200, headers=NO_STORE)


@router.get("/.well-known/oauth-authorization-server")
async def metadata(rt: RuntimeDep) -> Response:
    """Authorization server metadata (RFC 8414)."""
    issuer = rt.settings.issuer.rstrip("/")
    methods = ["client_secret_basic", "client_secret_post"]
    return JSONResponse(
        {
            "issuer": rt.settings.issuer,
            "token_endpoint": f"{issuer}/oauth2/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "introspection_endpoint": f"{issuer}/oauth2/introspect",
            "revocation_endpoint": f"{issuer}/oauth2/revoke",
            "grant_types_supported": [GRANT],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            # Not registered by RFC 8414; it names the algorithms of the published keys.
            "access_token_signing_alg_values_supported": rt.key_ring.algorithms(),
            "service_documentation": f"{issuer}/docs",
        },
        headers={"Cache-Control": "public, max-age=300"},
    )
