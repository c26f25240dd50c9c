"""What each operation can answer, as the ``responses`` of its route: every status with the
body it carries (the v3 envelope, or RFC 6749's error object on the OAuth endpoints) and the
headers sent with it (``WWW-Authenticate``, ``Retry-After``, ``ETag``, ``Link``).

Routes name their statuses from the groups below, so one refusal reads the same everywhere
and a status the code can give is never missing from the document (the conformance test
holds each operation to what it lists)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from keyloft.web.schemas import ErrorEnvelope

Responses = dict[int | str, dict[str, Any]]


def header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


WWW_AUTHENTICATE = {
    "WWW-Authenticate": header(
        "The challenge: Basic and Bearer, or Bearer/DPoP with the error (RFC 6750 §3, "
        "RFC 9449 §7.1)."
    )
}
RETRY_AFTER = {"Retry-After": header("Seconds to wait before trying again.", {"type": "integer"})}
ETAG = {"ETag": header("The client's version, for If-Match.")}
LINK = {"Link": header('The next page, as rel="next" (RFC 8288); absent on the last page.')}
NO_STORE = {
    "Cache-Control": header("no-store: the answer holds a secret or a token."),
}
DPOP_NONCE = {
    "DPoP-Nonce": header("The nonce the client's next DPoP proof must carry (RFC 9449 §8).")
}

WHY: dict[int, str] = {
    400: "A parameter, header or body field is invalid; `field` names it.",
    401: "No valid credentials: missing, wrong, expired or revoked.",
    403: "The credentials are valid but not allowed this call.",
    404: "No such resource in the caller's org.",
    409: "The org's state forbids it: a name taken, the org's client limit, a deleted "
    "client, or a concurrent change.",
    412: "If-Match names a version the resource no longer has.",
    413: "The body is larger than the limit (KEYLOFT_MAX_BODY_BYTES, 1 MiB by default).",
    415: "The body is not declared as JSON.",
    429: "Too many attempts (failed logins, or the client's token rate limit); retry after "
    "Retry-After seconds.",
    503: "The store is unavailable; nothing was applied; retry after Retry-After seconds.",
}
_HEADERS: dict[int, dict[str, Any]] = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}

# The refusals every management call can give: its credentials (400 for two forms at once,
# 401, 403, 429) and the store (503).
MANAGEMENT = (400, 401, 403, 429, 503)
WITH_BODY = (413, 415)
KEYED = (404,)
WRITE = (409,)
CONDITIONAL = (412,)


class OAuthErrorOut(BaseModel):
    """RFC 6749 §5.2's error object."""

    error: str = Field(
        examples=["invalid_client"],
        description="invalid_request, invalid_client, invalid_grant, unauthorized_client, "
        "unsupported_grant_type, invalid_scope, invalid_dpop_proof, use_dpop_nonce, "
        "slow_down, temporarily_unavailable or server_error.",
    )
    error_description: str | None = None


def respond(
    ok: dict[str, Any] | type[BaseModel] | None,
    refusal: type[BaseModel],
    refusals: tuple[int, ...],
    *,
    status: int = 200,
    headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
    why: dict[int, str] | None = None,
    refusal_headers: dict[int, dict[str, Any]] | None = None,
    description: str = "Done.",
) -> Responses:
    """An operation's answers: ``status`` with ``ok`` (a model, a JSON schema, or nothing),
    and each of ``refusals`` as the ``refusal`` body with the headers it is sent with."""
    answers: Responses = {}
    for code in sorted(set(refusals)):
        answer: dict[str, Any] = {
            "model": refusal,
            "description": (why or {}).get(code, WHY[code]),
        }
        sent = _HEADERS.get(code, {}) | (refusal_headers or {}).get(code, {})
        if sent:
            answer["headers"] = sent
        answers[code] = answer
    success: dict[str, Any] = {"description": description}
    if isinstance(ok, dict):
        success["content"] = {"application/json": {"schema": ok}}
    elif ok is not None:
        success["model"] = ok
    if headers:
        success["headers"] = headers
    if links:
        success["links"] = links
    answers[status] = success
    return answers


def envelope(ok: type[BaseModel] | None, *refusals: int, **options: Any) -> Responses:
    """A v3 operation's answers: ``ok`` in the envelope, each refusal the error envelope."""
    return respond(ok, ErrorEnvelope, refusals, **options)


def oauth(ok: dict[str, Any] | type[BaseModel] | None, *refusals: int, **options: Any) -> Responses:
    """An OAuth endpoint's answers: ``ok`` (a model, or a JSON schema), each refusal RFC
    6749 §5.2's error object."""
    return respond(ok, OAuthErrorOut, refusals, **options)


def links(parameters: dict[str, str], *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links from an answer to the operations it leads to, filling in
    ``parameters`` (name: runtime expression) of each."""
    return {
        operation_id[0].upper() + operation_id[1:]: {
            "operationId": operation_id,
            "parameters": parameters,
        }
        for operation_id in operation_ids
    }
