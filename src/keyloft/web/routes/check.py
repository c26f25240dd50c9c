"""The decision point for gateways: may this token make this call?

``POST /v3/oauth/check`` answers in the v3 envelope. ``GET /v3/oauth/check`` is shaped for
nginx ``auth_request`` (and Envoy/Traefik forward-auth): the token in
``X-CAP-API-OAUTH-TOKEN`` or ``Authorization: Bearer``, the original call in
``X-Original-Method`` / ``X-Original-URI``, and the answer in the status — 200 allowed, 401 no
valid token, 403 not allowed — with the caller's identity in response headers.

A token bound to a DPoP key (RFC 9449) is allowed only with ``Authorization: DPoP``, the call's
``DPoP`` proof and its full public URL (``X-Original-URL``; in the POST body ``tokenType``,
``dpop`` and ``url``); refusals of such calls carry the DPoP challenge (and ``DPoP-Nonce`` when
a nonce is asked for).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from keyloft.domain.certificates import read_certificate
from keyloft.services.decisions import Decision
from keyloft.services.dpop import BEARER, DPOP, Presentation
from keyloft.web import envelope
from keyloft.web.caller import TILL_CODE, TILL_TYPE, client_certificate
from keyloft.web.errors import dpop_challenge
from keyloft.web.json_route import JsonRoute
from keyloft.web.lane import direct
from keyloft.web.lane.body import openapi_body, read_json
from keyloft.web.openapi import answers
from keyloft.web.schemas import CheckEnvelope, CheckRequest
from keyloft.web.wiring import services_of

router = APIRouter(prefix="/v3/oauth", tags=["decision"], route_class=JsonRoute)


# Refused for the token itself (answered 401 by the gateway's sub-request), not for the call.
TOKEN_REFUSALS = frozenset(
    {"invalid_token", "ambiguous_token", "invalid_dpop_proof", "use_dpop_nonce"}
)


def _data(result: Decision) -> dict[str, object]:
    data: dict[str, object] = {
        "allowed": result.allowed,
        "reason": result.reason,
        "clientKey": result.client_key,
        "orgId": result.org_id,
        "tillId": result.till_id,
    }
    if result.nonce is not None:
        data["dpopNonce"] = result.nonce
    return data


async def _decide(
    request: Request, token: str, method: str, path: str, presentation: Presentation
) -> Decision:
    """The decision, with the Till the caller names in the attribution headers."""
    headers = request.headers
    return await services_of(request).decisions.decide(
        token,
        method.upper(),
        path,
        till_type=headers.get(TILL_TYPE),
        till_code=headers.get(TILL_CODE),
        presentation=presentation,
    )


def _x5t(certificate: str | None) -> str | None:
    """The ``x5t#S256`` of the certificate a gateway passed on; None for none or an unreadable
    one (which then binds nothing: a certificate-bound token is refused)."""
    if certificate is None:
        return None
    try:
        return read_certificate(certificate).x5t_s256
    except ValueError:
        return None


_IDENTITY: dict[str, Any] = {
    "X-Keyloft-Decision": answers.header("allowed, or why not (the reasons of POST /check)."),
    "X-Keyloft-Client-Key": answers.header("The token's client, when it has one."),
    "X-Keyloft-Org-Id": answers.header("The client's org.", {"type": "integer"}),
    "X-Keyloft-Till-Id": answers.header("The Till the call acts as.", {"type": "integer"}),
}
_FORWARDED_ANSWERS = answers.envelope(
    None,
    401,
    403,
    503,
    headers=_IDENTITY,
    why={
        401: "No valid token for the call (or, for a DPoP-bound one, no valid proof; with "
        "DPoP-Nonce when a nonce is asked for).",
        403: "The token is valid but not allowed the call.",
    },
    refusal_headers={401: _IDENTITY | answers.DPOP_NONCE, 403: _IDENTITY},
    description="Allowed: an empty body, the caller's identity in the headers.",
)


def _forwarded(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


# The gateway's sub-request names the original call in headers (nginx auth_request).
_FORWARDED_PARAMETERS = [
    _forwarded("X-Original-Method", "The original call's method."),
    _forwarded("X-Original-URI", "The original call's path (a query string is ignored)."),
    _forwarded(
        "X-Original-URL", "The original call's full public URL: needed with a DPoP-bound token."
    ),
]


def _identity(result: Decision) -> dict[str, str]:
    headers = {"X-Keyloft-Decision": result.reason, "Cache-Control": "no-store"}
    if result.client_key is not None:
        headers["X-Keyloft-Client-Key"] = result.client_key
    if result.org_id is not None:
        headers["X-Keyloft-Org-Id"] = str(result.org_id)
    if result.till_id is not None:
        headers["X-Keyloft-Till-Id"] = str(result.till_id)
    return headers


@router.post(
    "/check",
    responses=answers.envelope(
        CheckEnvelope,
        400,
        *answers.WITH_BODY,
        503,
        headers=answers.NO_STORE,
        description="The decision: allowed or not, and why (a refusal is still a 200).",
    ),
    openapi_extra=openapi_body(CheckRequest),
    name="check_call",
)
@direct
async def check(request: Request) -> Response:
    """Decide ``method path`` for ``token``; a refused call is still a 200 answer."""
    body = await read_json(request, CheckRequest)
    method = body.method.upper()
    presentation = Presentation(
        body.tokenType,
        (body.dpop,) if body.dpop is not None else (),
        method,
        body.url or "",
        _x5t(body.certificate),
    )
    result = await _decide(request, body.token, method, body.path, presentation)
    return envelope.ok(_data(result), headers={"Cache-Control": "no-store"})


@router.get(
    "/check",
    name="check_forwarded_call",
    responses=_FORWARDED_ANSWERS,
    openapi_extra={"parameters": _FORWARDED_PARAMETERS},
)
@direct
async def check_forwarded(request: Request) -> Response:
    """For gateways' sub-requests: the decision is the status code."""
    headers = request.headers
    token = headers.get("x-cap-api-oauth-token")
    scheme, _, value = headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    presented = value.strip() if scheme in ("bearer", "dpop") else None
    method = headers.get("x-original-method", "").upper()
    path = headers.get("x-original-uri", "")
    url = headers.get("x-original-url", "")
    certificate = client_certificate(request)  # passed on by the gateway, a trusted proxy
    presentation = Presentation(
        DPOP if scheme == "dpop" else BEARER,
        tuple(headers.getlist("dpop")),
        method,
        url,
        certificate.x5t_s256 if certificate is not None else None,
    )
    if token is not None and presented is not None and (token != presented or scheme == "dpop"):
        result = Decision(False, "ambiguous_token")
    elif not (token := token or presented):
        result = Decision(False, "invalid_token")
    elif not method or not path or (scheme == "dpop" and not url):
        result = Decision(False, "missing_original_request")
    else:
        result = await _decide(request, token, method, path, presentation)
    if result.allowed:
        return Response(status_code=200, headers=_identity(result))
    status = 401 if result.reason in TOKEN_REFUSALS else 403
    extra = _identity(result)
    if status == 401:
        extra["WWW-Authenticate"] = (
            dpop_challenge(result.reason if result.reason != "ambiguous_token" else "invalid_token")
            if result.dpop or scheme == "dpop"
            else 'Bearer realm="keyloft", error="invalid_token"'
        )
        if result.nonce is not None:
            extra["DPoP-Nonce"] = result.nonce
    code, message = (
        (3003, "The access token is invalid, expired or revoked.")
        if status == 401
        else (4000, "Not authorized. Access is denied!")
    )
    return envelope.error(status, code, message, headers=extra)
