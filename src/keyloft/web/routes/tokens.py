"""The v3 token call, and the public keys that verify its tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyloft.domain.errors import ValidationFailed
from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.token_issuance import BEARER, V3, TokenRequest
from keyloft.web import envelope
from keyloft.web.caller import caller_address, client_certificate, public_url, token_headers
from keyloft.web.json_route import JsonRoute
from keyloft.web.lane import direct
from keyloft.web.lane.body import openapi_body, read_json
from keyloft.web.openapi import answers
from keyloft.web.schemas import TokenEnvelope
from keyloft.web.schemas import TokenRequest as TokenBody
from keyloft.web.wiring import RuntimeDep, services_of

router = APIRouter(route_class=JsonRoute)
JWKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "RS256: kty RSA with n and e; ES256: kty EC, crv P-256, x and "
                "y; EdDSA: kty OKP, crv Ed25519, x.",
                "required": ["kty", "kid", "alg", "use"],
                "properties": {
                    "kty": {"type": "string", "enum": ["RSA", "EC", "OKP"]},
                    "kid": {"type": "string"},
                    "alg": {"type": "string", "enum": ["RS256", "ES256", "EdDSA"]},
                    "use": {"type": "string", "enum": ["sig"]},
                    "n": {"type": "string", "description": "RSA modulus, base64url."},
                    "e": {"type": "string", "description": "RSA exponent, base64url."},
                    "crv": {"type": "string", "enum": ["P-256", "Ed25519"]},
                    "x": {"type": "string", "description": "Public point or key, base64url."},
                    "y": {"type": "string", "description": "EC y coordinate, base64url."},
                },
            },
        }
    },
}


@router.post(
    "/v3/oauth/token/generate",
    tags=["tokens"],
    responses=answers.envelope(
        TokenEnvelope,
        400,
        401,
        *answers.WITH_BODY,
        429,
        503,
        headers=answers.NO_STORE | answers.DPOP_NONCE,
        why={
            400: answers.WHY[400] + " Also a DPoP proof that does not hold (RFC 9449).",
            401: "The key and secret (or assertion, or certificate) do not prove a client; "
            "every such failure looks alike.",
            429: "Too many failed attempts for the key, or the client's token rate limit.",
        },
        refusal_headers={400: answers.DPOP_NONCE},
    ),
    openapi_extra=openapi_body(TokenBody),
)
@direct
async def generate_token(request: Request) -> Response:
    """Trade a client key and secret (or, for a private_key_jwt client, a signed assertion)
    for a signed access token (a JWT signed with the deployment's algorithm: RS256, ES256 or
    EdDSA)."""
    body = await read_json(request, TokenBody)
    if body.secret is None and body.assertion is None and client_certificate(request) is None:
        raise ValidationFailed(
            "secret is required (or assertion, for a private_key_jwt client).", field="secret"
        )
    params = {"key": body.key}
    if body.secret is not None:
        params["secret"] = body.secret
    if body.assertion is not None:
        params["assertion"] = body.assertion
    client = ClientAuthRequest(
        params, address=caller_address(request), certificate=client_certificate(request)
    )
    asked = TokenRequest(
        client, dpop=tuple(request.headers.getlist("dpop")), url=public_url(request)
    )
    issued = await services_of(request).tokens.issue(asked, V3)
    data: dict[str, object] = {"accessToken": issued.access_token, "ttlSeconds": issued.expires_in}
    if issued.token_type != BEARER:  # the contract's answer, unchanged for bearer tokens
        data["tokenType"] = issued.token_type
    return envelope.ok(data, headers=token_headers(request))


@router.get(
    "/.well-known/jwks.json",
    tags=["tokens"],
    responses=answers.oauth(JWKS_SCHEMA, description="A JSON Web Key Set (RFC 7517)."),
)
async def jwks(rt: RuntimeDep) -> Response:
    """The public keys that verify Keyloft's access tokens (RFC 7517)."""
    return JSONResponse(rt.key_ring.jwks(), headers={"Cache-Control": "public, max-age=300"})
