"""The v3 token call, and the public keys that verify its tokens."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from keyloft.web import envelope
from keyloft.web.deps import RuntimeDep, TokenServiceDep
from keyloft.web.json_route import JsonRoute
from keyloft.web.schemas import ErrorEnvelope, TokenEnvelope, TokenRequest

router = APIRouter(route_class=JsonRoute)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/v3/oauth/token/generate",
    tags=["tokens"],
    responses={
        200: {"model": TokenEnvelope},
        400: {"model": ErrorEnvelope},
        401: {"model": ErrorEnvelope},
        415: {"model": ErrorEnvelope},
    },
)
async def generate_token(body: TokenRequest, tokens: TokenServiceDep) -> Response:
    """Trade a client key and secret for a signed access token (RS256 JWT)."""
    issued = await tokens.mint(body.key, body.secret)
    return envelope.ok(
        {"accessToken": issued.access_token, "ttlSeconds": issued.ttl_seconds}, headers=NO_STORE
    )


@router.get("/.well-known/jwks.json", tags=["tokens"])
async def jwks(rt: RuntimeDep) -> Response:
    """The public keys that verify Keyloft's access tokens (RFC 7517)."""
    return JSONResponse(rt.key_ring.jwks(), headers={"Cache-Control": "public, max-age=300"})
