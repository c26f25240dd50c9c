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
from keyloft.web.lane.form import FORM, MAX_FIELDS, read_form
from keyloft.web.oauth_schemas import IntrospectionOut, ServerMetadataOut, TokenAnswerOut
from keyloft.web.openapi import answers, rules
from keyloft.web.wiring import RuntimeDep, services_of

router = APIRouter(tags=["oauth2"])
GRANT = CLIENT_CREDENTIALS


def _form_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": CLIENT_AUTH | fields,
        "required": required,
        "maxProperties": MAX_FIELDS,
        # Any other parameter is ignored, but a form parameter is one string, sent once
        # (RFC 6749 §3.1).
        "additionalProperties": {"type": "string"},
        # RFC 6749 §2.3: one way to authenticate; an assertion comes with its type.
        "not": {"required": ["client_secret", "client_assertion"]},
        "dependentRequired": {
            "client_assertion": ["client_assertion_type"],
            "client_assertion_type": ["client_assertion"],
        },
    }
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}}}}


_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
CLIENT_AUTH: dict[str, Any] = {
    "client_id": _TEXT
    | {"description": "client_secret_post; private_key_jwt (required for a federated assertion)"},
    "client_secret": _TEXT | {"description": "client_secret_post only"},
    "client_assertion_type": {"type": "string", "enum": [JWT_BEARER]},
    "client_assertion": _TEXT
    | {
        "description": "private_key_jwt (RFC 7523): a JWT signed by one of the client's keys, "
        "or a token one of its federated credentials trusts"
    },
}
_TOKEN_FORM = _form_body(
    {
        "grant_type": {"type": "string", "enum": [GRANT]},
        "scope": {
            "type": "string",
            **rules.matching(rules.SCOPE),
            "example": "TargetGroups:read All:readwrite",
        },
    },
    ["grant_type"],
)
_TOKEN_PARAM_FORM = _form_body(
    {
        "token": _TEXT,
        "token_type_hint": {
            "type": "string",
            "description": "access_token, or any other hint (RFC 7009 §2.1: a hint that does "
            "not help is ignored)",
        },
    },
    ["token"],
)
# Every OAuth endpoint can refuse the request (400), the client (401), too many attempts
# (429) and answer 503 while the store is away.
REFUSALS = (400, 401, 429, 503)
WHY = {
    400: "invalid_request, unsupported_grant_type, invalid_scope, invalid_dpop_proof or "
    "use_dpop_nonce (with DPoP-Nonce) (RFC 6749 §5.2, RFC 9449).",
    401: "invalid_client: the client's authentication failed; all failures look alike.",
    429: "slow_down: too many failed attempts, or the client's token rate limit.",
    503: "temporarily_unavailable: the store is away; retry after Retry-After seconds.",
}


def _client(request: Request, form: dict[str, str]) -> ClientAuthRequest:
    return ClientAuthRequest(
        form,
        authorization=request.headers.get("authorization"),
        address=caller_address(request),
        certificate=client_certificate(request),
    )


@router.post(
    "/oauth2/token",
    name="request_token",
    openapi_extra=_TOKEN_FORM,
    responses=answers.oauth(
        TokenAnswerOut,
        *REFUSALS,
        headers=answers.NO_STORE | answers.DPOP_NONCE,
        why=WHY,
        refusal_headers={400: answers.DPOP_NONCE},
        description="The token (RFC 6749 §5.1); never a refresh token.",
    ),
)
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


@router.post(
    "/oauth2/introspect",
    name="introspect_token",
    openapi_extra=_TOKEN_PARAM_FORM,
    responses=answers.oauth(
        IntrospectionOut, *REFUSALS, headers=answers.NO_STORE, why=WHY, description="RFC 7662."
    ),
)
@direct
async def introspect(request: Request) -> Response:
    """Token introspection (RFC 7662) of the calling client's own tokens."""
    form = await read_form(request)
    answer = await services_of(request).introspection.introspect(
        _client(request, form), form.get("token")
    )
    return JSONResponse(answer, headers=NO_STORE)


@router.post(
    "/oauth2/revoke",
    name="revoke_token",
    openapi_extra=_TOKEN_PARAM_FORM,
    responses=answers.oauth(
        None,
        *REFUSALS,
        headers=answers.NO_STORE,
        why=WHY,
        description="Revoked, or nothing to revoke (RFC 7009 §2.2): an empty body.",
    ),
)
async def revoke(request: Request) -> Response:
    """Token revocation (RFC 7009): 200 whether or not there was anything to revoke."""
    form = await read_form(request)
    await services_of(request).introspection.revoke(_client(request, form), form.get("token"))
    return Response(status_code=200, headers=NO_STORE)


@router.get(
    "/.well-known/oauth-authorization-server",
    name="server_metadata",
    responses=answers.oauth(ServerMetadataOut, description="RFC 8414 §3.2."),
)
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
