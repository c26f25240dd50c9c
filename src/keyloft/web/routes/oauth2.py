"""Standard OAuth 2.0 endpoints: token (client credentials), introspection, revocation, and
the authorization server metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from keyloft.domain.client_keys import ASSERTION_ALGORITHMS
from keyloft.domain.clients import TLS_CLIENT_AUTH
from keyloft.domain.dpop import PROOF_ALGORITHMS
from keyloft.services.client_auth import ClientAuthRequest, method_names
from keyloft.services.client_auth.assertion import JWT_BEARER
from keyloft.services.token_issuance import CLIENT_CREDENTIALS, OAUTH2, TokenRequest
from keyloft.web.caller import (
    NO_STORE,
    caller_address,
    client_certificate,
    public_url,
    token_headers,
)
from keyloft.web.lane import direct
from keyloft.web.lane.form import FORM, read_form
from keyloft.web.wiring import RuntimeDep, services_of

router = APIRouter(tags=["oauth2"])
GRANT = CLIENT_CREDENTIALS


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
        "client_id": {
            "type": "string",
            "description": "client_secret_post; private_key_jwt (required for a federated "
            "assertion)",
        },
        "client_secret": {"type": "string", "description": "client_secret_post only"},
        "client_assertion_type": {"type": "string", "enum": [JWT_BEARER]},
        "client_assertion": {
            "type": "string",
            "description": "private_key_jwt (RFC 7523): a JWT signed by one of the client's "
            "keys, or a token one of its federated credentials trusts",
        },
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


def _client(request: Request, form: dict[str, str]) -> ClientAuthRequest:
    return ClientAuthRequest(
        form,
        authorization=request.headers.get("authorization"),
        address=caller_address(request),
        certificate=client_certificate(request),
    )


@router.post("/oauth2/token", name="request_token", openapi_extra=_TOKEN_FORM)
@direct
async def token(request: Request) -> Response:
    """Client credentials grant (RFC 6749 §4.4): a signed ``at+jwt`` access token (RFC 9068).

    ``scope`` (space-separated ``<Entity>:<read|write|readwrite>``) narrows the token; never
    a refresh token."""
    form = await read_form(request)
    asked = TokenRequest(
        _client(request, form),
        form.get("grant_type"),
        form.get("scope"),
        dpop=tuple(request.headers.getlist("dpop")),
        url=public_url(request),
    )
    issued = await services_of(request).tokens.issue(asked, OAUTH2)
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": issued.token_type,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
        headers=token_headers(request),
    )


@router.post("/oauth2/introspect", name="introspect_token", openapi_extra=_TOKEN_PARAM_FORM)
@direct
async def introspect(request: Request) -> Response:
    """Token introspection (RFC 7662) of the calling client's own tokens."""
    form = await read_form(request)
    answer = await services_of(request).introspection.introspect(
        _client(request, form), form.get("token")
    )
    return JSONResponse(answer, headers=NO_STORE)


@router.post("/oauth2/revoke", name="revoke_token", openapi_extra=_TOKEN_PARAM_FORM)
async def revoke(request: Request) -> Response:
    """Token revocation (RFC 7009): 200 whether or not there was anything to revoke."""
    form = await read_form(request)
    await services_of(request).introspection.revoke(_client(request, form), form.get("token"))
    return Response(status_code=200, headers=NO_STORE)


@router.get("/.well-known/oauth-authorization-server", name="server_metadata")
async def metadata(rt: RuntimeDep) -> Response:
    """Authorization server metadata (RFC 8414)."""
    issuer = rt.settings.issuer.rstrip("/")
    # tls_client_auth only where a client can use it: with the CAs it needs.
    methods = [
        method
        for method in method_names(OAUTH2.name)
        if method != TLS_CLIENT_AUTH or rt.client_trust is not None
    ]
    return JSONResponse(
        {
            "issuer": rt.settings.issuer,
            "token_endpoint": f"{issuer}/oauth2/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "introspection_endpoint": f"{issuer}/oauth2/introspect",
            "revocation_endpoint": f"{issuer}/oauth2/revoke",
            "registration_endpoint": f"{issuer}/oauth2/register",
            "grant_types_supported": [GRANT],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "dpop_signing_alg_values_supported": list(PROOF_ALGORITHMS),
            "tls_client_certificate_bound_access_tokens": True,
            "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            # Not registered by RFC 8414; it names the algorithms of the published keys.
            "access_token_signing_alg_values_supported": rt.key_ring.algorithms(),
            "service_documentation": f"{issuer}/docs",
        },
        headers={"Cache-Control": "public, max-age=300"},
    )
